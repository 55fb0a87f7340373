"""Studies behind constants of the product, kept runnable: ``python -m evaluation.studies.refusal_rules
--dev DIR`` and ``python -m evaluation.studies.verify_citations --dev DIR``."""
