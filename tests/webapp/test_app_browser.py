"""End to end in a real browser: Debian's chromium, headless, driven by Playwright.

Loads the page, asks a question, waits for the streamed answer, clicks a citation and checks
that its source opens with the cited sentence highlighted; saves ``docs/screenshot.png`` (shown
in the README); uploads an article through the Documents tab; and checks that a phone-width
screen (390 x 844) has no horizontal overflow. Playwright drives the system chromium
(``executable_path``) and never downloads a browser; without a chromium binary the tests are
skipped with that reason (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import unicodedata
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshot.png"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.path.exists(p)), None)
QUESTION = "Ông Kerry gặp ông Putin ở đâu?"
#: Upper bound for the answer to appear (model work on a busy 2-core machine), not a speed claim.
ANSWER_WAIT_MS = 120_000

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


@pytest.fixture(scope="module")
def app_pipe(bundled_pipeline, encoder, tmp_path_factory):
    """A copy of the bundled-articles index, so that uploads here leave the shared one alone."""
    from qa import Pipeline, QAConfig

    copy = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(bundled_pipeline.index.path, copy)
    return Pipeline(QAConfig(index_dir=copy), encoder=encoder)


@pytest.fixture(scope="module")
def app_url(app_pipe, one_torch_thread):
    from webapp.handlers import Backends
    from webapp.layout import build_app, launch_options

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(Backends(pipe=app_pipe)).queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            **launch_options())
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def _ask(page, question: str) -> None:
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_selector("#chat details.src", timeout=ANSWER_WAIT_MS)


def test_ask_open_citation_and_screenshot(browser, app_url, app_pipe):
    expected = app_pipe.ask(QUESTION).citations
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#question textarea", timeout=ANSWER_WAIT_MS)
    _ask(page, QUESTION)
    answer = page.locator("#chat .answer").last
    assert "Moskva" in answer.inner_text()
    links = answer.locator("a.cite")
    assert links.count() == len(expected)
    source = page.locator("#chat details.src").first
    assert source.evaluate("d => d.open") is False
    links.first.click()
    page.wait_for_function("() => document.querySelector('#chat details.src').open", timeout=5_000)
    mark = source.locator("mark")
    assert mark.is_visible()
    assert _norm(mark.inner_text()) == _norm(expected[0].sentence)
    assert _norm(expected[0].title) in _norm(source.locator("summary").inner_text())
    meta = source.locator(".src-meta").inner_text()
    doc = app_pipe.index.documents[expected[0].doc_id]
    assert doc.source in meta and (not doc.date or doc.date in meta)
    # the sources panel lists the retrieved passages, the cited one marked
    assert page.locator("#sources li.passage").count() == len(app_pipe.ask(QUESTION).passages)
    assert page.locator("#sources li.is-cited").count() >= 1
    page.wait_for_timeout(1_500)  # let the highlight flash fade before the picture
    # show the conversation from the question on: scroll the chat's scrolling box to the top
    page.evaluate("""() => { for (const e of document.querySelectorAll('#chat *'))
        if (e.scrollHeight > e.clientHeight + 5 && getComputedStyle(e).overflowY !== 'visible') e.scrollTop = 0; }""")
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    page.close()


def test_phone_width_has_no_horizontal_overflow(browser, app_url):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(app_url)
    page.wait_for_selector("#question textarea", timeout=ANSWER_WAIT_MS)
    _ask(page, "Where did Kerry and Lavrov meet in August 2016?")
    page.locator("#chat a.cite").first.click()
    page.wait_for_timeout(500)
    width, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= client, f"page is {width}px wide on a {client}px screen"
    box = page.locator("#ask").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.close()


def test_upload_through_the_documents_tab(browser, app_url, app_pipe, tmp_path):
    article = tmp_path / "cau-di-bo.txt"
    article.write_text(
        "Hà Nội khánh thành cầu đi bộ mới bắc qua sông Tô Lịch\n\n"
        "Sáng 12/3/2024, UBND thành phố Hà Nội khánh thành cây cầu đi bộ dài 120 mét bắc qua sông Tô Lịch.\n"
        "Tổng vốn đầu tư của cây cầu là 45 tỷ đồng.\n", encoding="utf-8")
    before = len(app_pipe.index.documents)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    page.get_by_role("tab", name="Tài liệu · Documents").click()
    page.wait_for_selector("#documents", timeout=ANSWER_WAIT_MS)
    page.locator("#upload input[type=file]").set_input_files(str(article))
    page.get_by_role("button", name="Thêm vào chỉ mục · Add to the index").click()
    page.wait_for_selector("#upload-result :text('Added 1 article(s)')", timeout=ANSWER_WAIT_MS)
    assert len(app_pipe.index.documents) == before + 1
    page.wait_for_selector("#documents :text('Hà Nội khánh thành cầu đi bộ')", timeout=30_000)
    page.close()
