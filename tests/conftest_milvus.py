"""Pytest fixtures for a real Milvus server (see tests/milvus_server.py).

Not a ``conftest.py`` (this branch may not edit the existing one): a test module that needs
them declares ``pytest_plugins = ["tests.conftest_milvus"]`` (one plugin, so one session server
for all modules; *importing* the fixture functions into each module instead made one fixture
definition, hence one server, per module). After the integration, the same line in
tests/conftest.py gives them to every module.

``milvus_server`` (session): one Milvus 2.3.5 standalone server for the whole run, its data in
the session's temporary folder, stopped at the end. It is *skipped* only when the server cannot
run here at all (the ``milvus`` package is missing, or the platform is not Linux x86-64, or the
binary does not execute); a server that runs but fails to start is an error, not a skip.
``QA_TEST_MILVUS_URI=http://host:19530`` uses that server instead (e.g. a Milvus 2.5/2.6 in CI): the
same tests run against it, and those that restart the server skip.

``milvus_client`` (function): a ``pymilvus.MilvusClient`` on that server, closed after the test,
which also drops every collection the test created (names from ``milvus_name``).
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from tests.milvus_server import MilvusServer, MilvusServerUnavailable

__all__ = ["milvus_server", "milvus_client", "milvus_name", "ExternalMilvus"]


class ExternalMilvus:
    """A server this session did not start (``QA_TEST_MILVUS_URI``): no restart, stop or kill."""

    def __init__(self, uri: str):
        self.uri = uri
        self.start_seconds: list[float] = []

    def _no(self, *_a, **_k):
        pytest.skip(f"the Milvus server at {self.uri} (QA_TEST_MILVUS_URI) is not ours to stop or restart")

    restart = stop = kill = start = _no
    running = True


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    uri = os.environ.get("QA_TEST_MILVUS_URI")
    if uri:
        yield ExternalMilvus(uri)
        return
    server = MilvusServer(tmp_path_factory.mktemp("milvus-server"))
    try:
        took = server.start()
    except MilvusServerUnavailable as exc:
        pytest.skip(f"no Milvus server on this platform: {exc}")
    print(f"\n[milvus] Milvus 2.3.5 standalone at {server.uri} (pid {server.pid}) started in {took:.1f} s",
          file=sys.stderr)
    try:
        yield server
    finally:
        took = server.stop()
        print(f"\n[milvus] stopped in {took:.1f} s; starts: {[round(s, 1) for s in server.start_seconds]}",
              file=sys.stderr)


@pytest.fixture()
def milvus_name():
    """``milvus_name("flat")`` -> a collection name unique to this test (safe on a shared server)."""
    made: list[str] = []

    def name(prefix: str = "t") -> str:
        n = f"{prefix}_{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n

    name.made = made
    return name


@pytest.fixture()
def milvus_client(milvus_server, milvus_name):
    from pymilvus import MilvusClient

    client = MilvusClient(milvus_server.uri, timeout=60)
    yield client
    try:
        for n in milvus_name.made:
            if client.has_collection(n):
                client.drop_collection(n)
    finally:
        client.close()
