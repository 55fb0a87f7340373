"""The evaluation of retrieval and answers on a QA set (``python -m evaluation``, see
:mod:`evaluation.cli`) and the one-off studies behind the product's constants (:mod:`evaluation.studies`).
On top of the house: nothing in qa/, embeddings/, corpus/ or webapp/ imports it."""
