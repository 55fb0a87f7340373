"""The Gradio app: the chat function renders the answer and its numbered sources."""

from __future__ import annotations

import app


def test_render_shows_answer_and_numbered_sources(bundled_pipeline):
    answer = bundled_pipeline.ask("Where did Kerry and Lavrov meet in August 2016?")
    md = app.render(answer)
    assert "according to [1]: “" in md.lower()  # English frame (after the bold lead span)
    assert "**Sources**" in md
    for c in answer.citations:
        assert f"\n{c.n}. " in md
        assert c.sentence in md
        assert f"[{c.n}]" in md


def test_render_not_found_has_no_sources(bundled_pipeline):
    md = app.render(bundled_pipeline.ask("Giá vàng hôm nay bao nhiêu?"))
    assert "không tìm thấy" in md and "Nguồn" not in md


def test_blank_message_asks_for_a_question():
    assert "question" in app.respond("   ", [])


def test_app_builds():
    demo = app.build_app()
    assert demo.title.startswith("Hỏi đáp")
