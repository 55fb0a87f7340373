"""Which pymilvus errors the retrying client treats as a server restart (retried) and which as the
caller's own mistake (raised at once). The messages follow the 2.3.5 server's: the restart one is
the error CI met, abridged to the parts that matter (its node and session clauses)."""

from __future__ import annotations

import pytest

pymilvus = pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")

from embeddings.stores.milvus_client import RetryingClient, fault_kind  # noqa: E402

MilvusException = pymilvus.exceptions.MilvusException

#: flush right after a restart on a loaded machine (CI, 2 cores): the coordinators still address
#: the data node by its old id.
RESTART_FLUSH = ("<MilvusException: (code=65535, message=attempt #0: rpc error: code = Unknown desc = "
                 "node not match[expectedNodeID=1][actualNodeID=2]: attempt #1: session not found->"
                 "datanode-1: node not found[node=1]: unrecoverable error)>")


@pytest.mark.parametrize("message, kind", [
    (RESTART_FLUSH, "unavailable"),
    ("fail connecting to server on localhost:19530, illegal connection params or server unavailable",
     "unavailable"),
    ("collection not loaded[collection=449]", "not_loaded"),
    ("collection not found[database=default][collection=nope]", None),
    ("field vector not exist", None),
    ("the dim (4) of field data(vector) is not equal to schema dim (8)", None),
])
def test_fault_kind_of_real_server_messages(message, kind):
    assert fault_kind(MilvusException(code=65535, message=message)) == kind


class _FlakyFlush:
    """A client whose ``flush`` fails like a restarting server twice, then succeeds."""

    def __init__(self, error: Exception):
        self.error, self.calls = error, 0

    def flush(self, name: str) -> str:
        self.calls += 1
        if self.calls <= 2:
            raise self.error
        return name


def test_a_restart_time_flush_error_is_retried_and_an_input_error_is_not():
    sleeps: list[float] = []
    flaky = _FlakyFlush(MilvusException(code=65535, message=RESTART_FLUSH))
    client = RetryingClient(flaky, "http://localhost:1", retry_s=60, sleep=sleeps.append)
    assert client.flush("c") == "c" and flaky.calls == 3 and len(sleeps) == 2

    wrong = _FlakyFlush(MilvusException(code=100, message="collection not found[collection=c]"))
    client = RetryingClient(wrong, "http://localhost:1", retry_s=60, sleep=sleeps.append)
    with pytest.raises(MilvusException):
        client.flush("c")
    assert wrong.calls == 1
