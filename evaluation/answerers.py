"""The answerers the harness compares on one retrieval: the configured one, another by name, and the
k-fold reader (:class:`FoldRouter`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import QAConfig

from .datasets import DEV_FOLDS, dev_fold

if TYPE_CHECKING:  # pragma: no cover
    from qa.pipeline import Pipeline

__all__ = ["EVAL_ANSWERERS", "FoldRouter", "answerer_pipeline", "eval_settings", "pipe_for"]


class FoldRouter:
    """The k-fold reader: one pipeline per fold of the dev set (:func:`evaluation.datasets.dev_fold`),
    each with the reader trained without that fold, so every question is answered by a model that
    never saw its paragraph (issue 12's rule for reporting dev figures of a dev-trained reader).

    ``folds``: a folder with ``fold0`` … ``fold4`` reader folders (``python -m training.dev_stage
    kfold``); ``margins``: per fold, a refusal margin for both languages, or per language
    ``{"gate": relevance threshold, "margin": reader margin}`` (calibrated on the other folds,
    :mod:`evaluation.studies.reader_calibration`); else the configured ones. ``settings``: other
    QAConfig overrides for every fold's pipeline (e.g. ``reader_cites``)."""

    def __init__(self, base: Pipeline, folds: Path, margins: dict[int, float | dict] | None = None,
                 settings: dict | None = None):
        from qa.pipeline import Pipeline

        missing = [k for k in range(DEV_FOLDS) if not (Path(folds) / f"fold{k}").is_dir()]
        if missing:
            raise FileNotFoundError(f"{folds} lacks the reader folders fold{missing[0]} … (expected fold0 … "
                                    f"fold{DEV_FOLDS - 1}, see python -m training.dev_stage kfold)")
        self.pipes = {}
        for k in range(DEV_FOLDS):
            cfg = base.config.with_(**{**(settings or {}), "answerer": "reader",
                                       "reader_model": str(Path(folds) / f"fold{k}")})
            m = (margins or {}).get(k)
            if isinstance(m, dict):
                cfg = cfg.with_(min_relevance_vi=m["vi"]["gate"], min_relevance_en=m["en"]["gate"],
                                reader_min_margin=m["vi"]["margin"], reader_min_margin_en=m["en"]["margin"])
            elif m is not None:
                cfg = cfg.with_(reader_min_margin=float(m), reader_min_margin_en=None)
            self.pipes[k] = Pipeline(cfg, encoder=base.encoder, index=base.index)
        self.config = self.pipes[0].config
        self.retriever = self.pipes[0].retriever

    def for_key(self, key: str) -> Pipeline:
        """The pipeline of the fold of ``key`` (a context id, or an unanswerable question's id)."""
        return self.pipes[dev_fold(key)]


#: Answerers the harness can compare, by the label of their rows: an answerer name, or
#: ``reader-span`` (the reader that cites the sentence of its own best span,
#: ``QAConfig.reader_cites="span"``) beside ``reader`` (the configured ``reader_cites``).
EVAL_ANSWERERS: dict[str, dict] = {"extractive": {"answerer": "extractive"}, "reader": {"answerer": "reader"},
                                   "reader-span": {"answerer": "reader", "reader_cites": "span"}}


def eval_settings(label: str) -> dict:
    """The QAConfig overrides of a row label: a name of :data:`EVAL_ANSWERERS`, or
    ``NAME@FOLDER`` for a reader answerer with another model (``reader@runs/reader2/best`` beside
    ``reader``: two readers in one run), each optionally followed by ``+FIELD=VALUE`` QAConfig
    settings (``reader+reader_one_citation_margin_en=2``; VALUE read as JSON, else a string)."""
    label, *extra = label.split("+")
    name, _, model = label.partition("@")
    if name not in EVAL_ANSWERERS:
        raise ValueError(f"unknown answerer {name!r} (one of {', '.join(EVAL_ANSWERERS)}, optionally @MODEL)")
    settings = dict(EVAL_ANSWERERS[name])
    if model:
        if settings["answerer"] != "reader":
            raise ValueError(f"{label!r}: only a reader answerer takes @MODEL")
        if not Path(model).exists():
            raise ValueError(f"{label!r}: no reader folder {model}")
        settings["reader_model"] = model
    fields = {f.name for f in dataclasses.fields(QAConfig)}
    for item in extra:
        key, eq, raw = item.partition("=")
        if not eq or key not in fields:
            raise ValueError(f"{item!r}: expected FIELD=VALUE with a QAConfig field")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings


def answerer_pipeline(pipe: Pipeline, answerer: str, *, reader_folds: Path | None = None,
                      reader_margins: dict[int, float | dict] | None = None) -> Pipeline | FoldRouter:
    """``pipe`` with another answerer (same retrieval, encoder and index), by its label in
    :data:`EVAL_ANSWERERS` (or ``NAME@MODEL``, :func:`eval_settings`): the configured one, a
    :class:`FoldRouter` for a reader with ``reader_folds``, or the named answerer."""
    from qa.pipeline import Pipeline

    settings = eval_settings(answerer)
    if settings["answerer"] == "reader" and reader_folds is not None and "reader_model" not in settings:
        return FoldRouter(pipe, reader_folds, reader_margins, settings)
    if answerer == pipe.config.answerer:
        return pipe
    return Pipeline(pipe.config.with_(**settings), encoder=pipe.encoder, index=pipe.index)


def pipe_for(pipe: Pipeline | FoldRouter, key: str) -> Pipeline:
    """The pipeline that answers the question of ``key`` (its fold's, for a :class:`FoldRouter`)."""
    return pipe.for_key(key) if isinstance(pipe, FoldRouter) else pipe
