"""The sentence-fusion study's selection rule and its held-out tuning, on cases written here."""

from __future__ import annotations

from evaluation.studies.sentence_fusion import choose, cross_validate, score


def _sent(score_: float, margin: float | None, *, gold: bool, pid: int = 1, rank: int = 1) -> dict:
    return {"score": score_, "margin": margin, "rank": rank, "pid": pid, "gold": gold, "lead_gold": gold,
            "passage_gold": gold}


def test_the_readers_margin_moves_a_close_sentence_up_and_unread_ones_count_as_the_clip():
    sents = [_sent(1.0, -8.0, gold=False, pid=1), _sent(0.8, 6.0, gold=True, pid=2), _sent(0.7, None, gold=False)]
    assert choose(sents, 0.0, 5.0, 3, 5)[0] is sents[0]  # weight 0: the extractive order
    assert choose(sents, 0.1, 5.0, 3, 5)[0] is sents[1]  # 1.0 - 0.5 < 0.8 + 0.5
    assert choose(sents, 0.1, 5.0, 1, 5) == [sents[0]]  # k=1 reads only the best: nothing to re-rank
    far = [_sent(1.0, -8.0, gold=False), _sent(0.8, 6.0, gold=True, rank=7)]
    assert choose(far, 0.1, 5.0, 2, 5) == [far[0]]  # a passage beyond the depth is not a candidate


def test_the_runner_up_is_added_only_from_the_best_sentences_passage():
    same = [_sent(1.0, 0.0, gold=False, pid=1), _sent(0.5, 0.0, gold=True, pid=1)]
    other = [_sent(1.0, 0.0, gold=False, pid=1), _sent(0.5, 0.0, gold=True, pid=2)]
    assert len(choose(same, 0.1, 5.0, 2, 5)) == 2 and len(choose(other, 0.1, 5.0, 2, 5)) == 1
    s = score([{"sentences": same}, {"sentences": other}], 0.1, 5.0, 2, 5)
    assert (s["top1"], s["chosen"], s["n"]) == (0.0, 0.5, 2)


def test_tuning_on_one_half_is_scored_on_the_other():
    # even folds reward the reader's margin, odd folds punish it: each half's pick fails the other
    helps = [_sent(1.0, -5.0, gold=False, pid=1), _sent(0.9, 5.0, gold=True, pid=2)]
    hurts = [_sent(1.0, -5.0, gold=True, pid=1), _sent(0.9, 5.0, gold=False, pid=2)]
    cases = [{"lang": "vi", "fold": f, "sentences": helps if f % 2 == 0 else hurts} for f in range(4)]
    cv = cross_validate(cases, "vi")
    assert cv["picks"][0][0] > 0 and cv["picks"][1][0] == 0.0  # tuned on even / on odd folds
    assert cv["held_out"]["top1"] == 0.0  # neither pick is right on the half it did not see
