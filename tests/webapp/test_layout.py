"""The page (webapp.layout) builds without an index and asks for the upload limit."""

from __future__ import annotations

from webapp import layout
from webapp.uploads import MAX_UPLOAD_BYTES


def test_app_builds():
    demo = layout.build_app()
    assert demo.title.startswith("Hỏi đáp")
    assert layout.launch_options()["max_file_size"] == MAX_UPLOAD_BYTES
