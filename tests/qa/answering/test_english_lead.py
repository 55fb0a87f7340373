"""English leads: numbers, dates, units and known names of a Vietnamese span read as English."""

from __future__ import annotations

import pytest

from qa.answering.english_lead import english_lead
from qa.retrieval.aliases import load_aliases


@pytest.mark.parametrize("lead,english", [
    ("gần 10 tiếng đồng hồ", "nearly 10 hours"),  # the Geneva talks (article 003)
    ("3 giờ đồng hồ", "3 hours"),  # the Moscow meeting (article 000)
    ("15/12", "15 December"),
    ("ngày 26-8-2016", "26 August 2016"),
    ("hôm 26-8", "hôm 26-8"),  # a word the rules do not know keeps the Vietnamese span whole
    ("tháng 8/2016", "August 2016"),
    ("năm 2016", "2016"),
    ("2 triệu người", "2 million people"),
    ("2 triệu người Syria", "2 million Syrians"),
    ("500 người Nga", "500 Russians"),
    ("10.000 USD", "10,000 USD"),
    ("khoảng 2,5 triệu đô la", "about 2.5 million dollars"),
    ("hơn 1 tiếng", "more than 1 hour"),
    ("từ 15 đến 20 người", "from 15 to 20 people"),
    ("thứ Hai", "Monday"),
    ("53 người dân", "53 people"),
])
def test_numbers_dates_and_units_read_as_english(lead, english):
    assert english_lead(lead) == english


def test_known_names_take_their_english_form_and_unknown_words_stay_vietnamese():
    aliases = load_aliases()
    assert english_lead("Giôn Ke-ri", aliases) == "John Kerry"
    assert english_lead("Mát-xcơ-va", aliases) == "Moscow"
    assert english_lead("Igor Konashenkov", aliases) == "Igor Konashenkov"
    # a span the rules cannot render whole is left as it was, never half translated
    assert english_lead("chết 53 người dân, trong đó có 15 phụ nữ") == "chết 53 người dân, trong đó có 15 phụ nữ"
    assert english_lead("Bộ Quốc phòng Nga") == "Bộ Quốc phòng Nga"
    assert english_lead("  15/12  ") == "15 December"
