"""Questions the pipeline does not accept get a clear, bilingual error; the rest are answered."""

from __future__ import annotations

import pytest

from qa import QuestionError
from qa.text.questions import MAX_QUESTION_CHARS, validate_question

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUESTION_VI = "Ông Kerry gặp ông Putin ở đâu?"


@pytest.mark.parametrize("question", ["", "   ", "\n\t \u00a0", "\u200b\u200b", "???", None, 42])
def test_empty_question(question, bundled_pipeline):
    with pytest.raises(QuestionError) as exc:
        bundled_pipeline.ask(question)
    assert exc.value.kind == "empty" and isinstance(exc.value, ValueError)
    assert "empty" in exc.value.message("en") and "trống" in exc.value.message("vi")
    assert str(exc.value) == f"{exc.value.message('en')} / {exc.value.message('vi')}"


def test_too_long_question_is_rejected_not_cut(bundled_pipeline):
    long_question = (QUESTION_VI + " ") * (20_000 // len(QUESTION_VI) + 1)
    long_question = long_question[:20_000]
    with pytest.raises(QuestionError, match="20,000 characters; at most 2,000") as exc:
        bundled_pipeline.ask(long_question)
    assert exc.value.kind == "too-long" and "quá dài" in exc.value.message("vi")
    with pytest.raises(QuestionError):
        next(bundled_pipeline.ask_stream(long_question))
    # the limit itself is accepted (blanks around it do not count)
    at_limit = ("Ông Kerry " * MAX_QUESTION_CHARS)[:MAX_QUESTION_CHARS - len(QUESTION_VI) - 1] + " " + QUESTION_VI
    assert len(at_limit) == MAX_QUESTION_CHARS
    assert validate_question(f"  {at_limit}\n") == at_limit


@pytest.mark.parametrize("question", [
    "克里和普京在哪里会面？",  # Chinese
    "Где встретились Керри и Путин?",  # Russian
    "أين التقى كيري وبوتين؟",  # Arabic
    "เคอร์รีพบปูตินที่ไหน",  # Thai
])
def test_other_scripts_are_refused_clearly(question, bundled_pipeline):
    with pytest.raises(QuestionError) as exc:
        bundled_pipeline.ask(question)
    assert exc.value.kind == "language"
    assert "Vietnamese or English" in exc.value.message("en")
    assert "tiếng Việt hoặc tiếng Anh" in exc.value.message("vi")


def test_foreign_names_in_a_vietnamese_question_are_fine(bundled_pipeline):
    plain = bundled_pipeline.ask(QUESTION_VI)
    quoted = bundled_pipeline.ask("Ông Kerry gặp ông Putin (Путин) ở đâu?")
    assert plain.found and quoted.found and quoted.language == "vi"
    assert quoted.citations[0].doc_id == plain.citations[0].doc_id


def test_latin_script_question_in_another_language_is_answered_in_english(bundled_pipeline):
    answer = bundled_pipeline.ask("Où Kerry a-t-il rencontré Poutine ?")  # French
    assert answer.language == "en"
    assert isinstance(answer.text, str) and answer.text


def test_nfd_question_is_normalized():
    import unicodedata

    assert validate_question(unicodedata.normalize("NFD", f"  {QUESTION_VI} ")) == QUESTION_VI


def test_cli_reports_a_bad_question_without_traceback(bundled_pipeline, monkeypatch, capsys, encoder):
    import qa.pipeline
    from qa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    assert main(["ask", "--index", str(bundled_pipeline.index.path), "   "]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the question is empty") and "Traceback" not in err
