"""Speed and memory benchmarks of the product (``python -m benchmarks``, see :mod:`benchmarks.cli`).
On top of the house: nothing in qa/, embeddings/, corpus/ or webapp/ imports it."""
