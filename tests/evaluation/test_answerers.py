"""Row labels of the answerers the harness compares (evaluation/answerers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.answerers import EVAL_ANSWERERS, eval_settings

ROOT = Path(__file__).resolve().parents[2]


def test_names_and_reader_at_model_labels_give_their_settings():
    assert eval_settings("extractive") == {"answerer": "extractive"}
    assert eval_settings("reader-span") == EVAL_ANSWERERS["reader-span"]
    shipped = str(ROOT / "models" / "reader")
    assert eval_settings(f"reader@{shipped}") == {"answerer": "reader", "reader_model": shipped}
    assert eval_settings(f"reader-span@{shipped}")["reader_cites"] == "span"
    # +FIELD=VALUE: a QAConfig setting for that row, the value read as JSON (else a string)
    assert eval_settings("reader+reader_one_citation_margin_en=2.5+reader_cites=span") == {
        "answerer": "reader", "reader_one_citation_margin_en": 2.5, "reader_cites": "span"}
    assert eval_settings("reader+reader_one_citation_margin_en=null")["reader_one_citation_margin_en"] is None


@pytest.mark.parametrize("label, message", [("bm25", "unknown answerer"), ("extractive@models/reader", "only a reader"),
                                             ("reader@no/such/folder", "no reader folder"),
                                             ("reader+no_such_field=1", "QAConfig field"),
                                             ("reader+reader_cites", "FIELD=VALUE")])
def test_bad_labels_are_refused_with_the_reason(label, message):
    with pytest.raises(ValueError, match=message):
        eval_settings(label)


def test_the_cli_refuses_a_bad_label_before_loading_anything(capsys):
    from evaluation.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--dev", str(ROOT), "--answerers", "extractive,reader@no/such/folder"])
    assert exc.value.code == 2
    assert "no reader folder" in capsys.readouterr().err
