"""One upload into the index (qa.ingest.index_files): file by file, within a cap in passages and
sentences whose message names the limit, the other files going on."""

from __future__ import annotations

import json
import shutil

import pytest

from corpus import load_bundled
from embeddings.stores.faiss import FaissStore
from qa import Pipeline, QAConfig
from qa.ingest import LIMIT_KIND, index_files

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def pipe(bundled_pipeline, encoder, tmp_path):
    """A pipeline over a copy of the bundled index without article 004."""
    copy = tmp_path / "index"
    shutil.copytree(bundled_pipeline.index.path, copy)
    p = Pipeline(QAConfig(index_dir=copy), encoder=encoder)
    p.remove(next(d for d in load_bundled() if "/004_" in d.path).id)
    return p


def test_a_file_over_the_cap_is_refused_naming_the_limit_and_the_rest_is_indexed(pipe, tmp_path):
    article = next(d for d in load_bundled() if "/004_" in d.path)
    fits = tmp_path / "article.txt"
    fits.write_text(article.title + "\n\n" + article.text, encoding="utf-8")
    passages = len(pipe.chunk(article))
    # many short real paragraphs: the bundled articles' sentences, each a paragraph of its own
    lines = [s for d in load_bundled() for s in d.text.split(". ") if len(s) > 20]
    big = tmp_path / "many-paragraphs.jsonl"
    big.write_text("\n".join(json.dumps({"title": f"Đoạn {i}", "text": s}, ensure_ascii=False)
                             for i, s in enumerate(lines * 2)), encoding="utf-8")
    cap = passages + 5
    result = index_files(pipe, [str(fits), str(big)], max_passages=cap, max_sentences=0)
    ok, refused = result.files
    assert not ok.error and len(ok.added) == 1 and ok.passages == passages
    assert refused.error_kind == LIMIT_KIND and not refused.added and not refused.documents
    assert f"at most {cap:,} passages" in refused.error and f"{refused.passages:,} passages" in refused.error
    assert refused.passages > cap - passages
    # what was added is committed: a restart has it, and nothing of the refused file
    on_disk = FaissStore.open(pipe.index.path)
    assert ok.added[0] in on_disk.documents and len(on_disk.documents) == len(pipe.index.documents)
    # the sentence cap works the same way, and the default config has both
    again = index_files(pipe, [str(big)], max_passages=0, max_sentences=10)
    assert again.files[0].error_kind == LIMIT_KIND and "10 sentences" in again.files[0].error
    assert QAConfig().max_upload_passages > 0 and QAConfig().max_upload_sentences > 0
    with pytest.raises(ValueError, match="max_upload"):
        QAConfig(max_upload_passages=-1)


def test_unreadable_files_are_reported_not_raised(pipe, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "x.pdf"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    result = index_files(pipe, [str(empty), str(binary)])
    assert [bool(f.error) for f in result.files] == [True, True] and result.added == []
