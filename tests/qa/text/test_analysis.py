"""Which sentences can be cited as an answer (qa.text.analysis.is_citable)."""

from __future__ import annotations

import pytest

from qa.text.analysis import is_citable


@pytest.mark.parametrize("sentence, citable", [
    ("(Nguồn: NBC)", False), ("Ảnh: Reuters", False), ("...", False), ("Source: AFP", False),
    ("Ông Putin.", False),  # two words: answers nothing
    ("Tổng thống Putin bắt tay ông Kerry sau cuộc họp hôm 15/12 ở Moskva.", True),
    ("Theo ông Konashenkov, Nga sẽ tiếp tục các cuộc không kích ở Syria.", True),
])
def test_is_citable(sentence, citable):
    assert is_citable(sentence) is citable
