"""``python -m qa index`` on a folder with bad files: it indexes the good ones and lists the
rest with their reasons (no traceback); a corrupt index is a one-line error."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARTICLE = (
    "Hà Nội thông qua kế hoạch chống ngập\n\n"
    "Ủy ban nhân dân thành phố Hà Nội đã thông qua kế hoạch chống ngập cho mùa mưa năm nay, với tổng "
    "kinh phí hơn 500 tỷ đồng."
)


@pytest.fixture
def main(monkeypatch, encoder):
    import qa.pipeline
    from qa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    return main


def test_index_lists_rejected_items_and_indexes_the_rest(tmp_path, main, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "empty.md").write_bytes(b"")
    (folder / "feed.jsonl").write_text(
        json.dumps({"title": "Tin ngắn", "text": "Giá xăng giảm 500 đồng mỗi lít từ chiều nay."},
                   ensure_ascii=False) + "\n{broken\n", encoding="utf-8")
    assert main(["index", "--index", str(tmp_path / "index"), str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "added 2 document(s)" in out and "3 item(s) skipped" in out
    assert "skipped 3 item(s):" in err and "Traceback" not in err
    assert "image.txt: binary data" in err
    assert "empty.md: empty file (0 bytes)" in err
    assert "feed.jsonl, line 2: malformed JSON" in err


def test_index_of_only_bad_files_is_exit_1(tmp_path, main, capsys):
    (tmp_path / "scan.txt").write_bytes(b"\x00" * 100)
    assert main(["index", "--index", str(tmp_path / "index"), str(tmp_path / "scan.txt")]) == 1
    err = capsys.readouterr().err
    assert "scan.txt: binary data" in err and "no documents found" in err
    assert not (tmp_path / "index").exists()


def _all_parsers():
    from qa.cli import build_parser

    root = build_parser()
    sub = next(a for a in root._actions if a.__class__.__name__ == "_SubParsersAction")
    return root, sub.choices


def test_every_option_has_help_and_the_help_shows_two_examples():
    root, commands = _all_parsers()
    for name, parser in [("", root), *commands.items()]:
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                continue
            assert action.help, f"`python -m qa {name}`: {action.option_strings or action.dest} has no help text"
    text = root.format_help()
    assert "examples:" in text and text.count("python -m qa ") >= 2
    assert "example:" in commands["ask"].format_help()


@pytest.mark.parametrize("date, why", [("2016-13-45", "no month 13"), ("2016-02-30", "has 29 days"),
                                       ("16/08/2016", "must look like")])
def test_an_impossible_date_is_an_error_not_an_empty_filter(date, why, capsys):
    from qa.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["ask", "--date-from", date, "Ông Kerry gặp ông Putin ở đâu?"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--date-from" in err and why in err
