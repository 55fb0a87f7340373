"""Gradio chat over Vietnamese news with cited answers: the Hugging Face Space entry point.

    python app.py            # http://127.0.0.1:7860 ; set GRADIO_SERVER_NAME=0.0.0.0 to expose

The page is :mod:`webapp` (handlers, layout, rendering). The index of the bundled articles is
built on the first start (about a minute on 2 cores) in ``QA_CACHE_DIR`` and loaded afterwards.
The environment configures the backends (:meth:`webapp.handlers.Backends.from_env`): the shipped
reader of models/reader (preselected; ``QA_READER_MODEL`` names another) and the extractive
answerer, and a generative one when ``QA_GENERATOR_URL`` (an OpenAI-compatible server) or
``QA_GENERATOR_MODEL`` (a transformers model id or folder) is set; ``QA_ANSWERER`` preselects
another; see the README's section on the Space.
"""

from __future__ import annotations

import logging
import os


def main() -> None:
    """Keep the cache on a Space's persistent storage, build or load the index, serve the page."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "bm25s", "urllib3", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from webapp.layout import use_persistent_storage

    use_persistent_storage()  # before anything reads QA_CACHE_DIR
    from webapp.handlers import Backends
    from webapp.layout import build_app, launch_options

    backends = Backends.from_env()
    backends.base()  # build (first start) or load the index before the page comes up
    build_app(backends).queue().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                                       **launch_options())


if __name__ == "__main__":
    main()
