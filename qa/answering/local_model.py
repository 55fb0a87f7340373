"""A transformers model and its tokenizer, by folder or hub id, loaded once on first use.

Shared by the optional answerers that run a model in this process: the transformers
generator (:class:`~qa.answering.backends.TransformersGenerator`, a causal LM) and the reader
(:class:`~qa.answering.reader.ReaderAnswerer`, a question-answering model). Offline first: a
hub id is loaded with ``local_files_only=True`` (from the local cache) unless the environment
sets ``HF_HUB_OFFLINE=0``, which allows a download.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["LocalModel", "looks_like_path"]


def looks_like_path(name: str) -> bool:
    """Whether ``name`` names a folder (absolute, relative, home or drive path, or existing)
    rather than a hub id like ``org/model``."""
    return name.startswith(("/", "./", "../", "~", "\\")) or (len(name) > 1 and name[1] == ":") \
        or os.path.exists(os.path.expanduser(name))


class LocalModel:
    """Loads ``auto_class`` (a transformers ``Auto*`` class name) and its tokenizer lazily.

    ``kind`` names the model in errors ("generator", "reader"). A path that does not exist
    fails at once (``FileNotFoundError``); a model that cannot be loaded fails on first use
    (``RuntimeError`` saying why and how to allow a download).
    """

    auto_class = "AutoModel"
    kind = "model"

    def __init__(self, model_id_or_path: str, device: str | None = "cpu"):
        if not model_id_or_path:
            raise ValueError(f"the {self.kind} needs a model id or folder")
        if looks_like_path(model_id_or_path):
            path = Path(model_id_or_path).expanduser()
            if not path.is_dir():
                raise FileNotFoundError(f"{self.kind} model folder {str(path)!r} does not exist")
            model_id_or_path = str(path)
        self.model_id = model_id_or_path
        self.device = device or "cpu"
        self._loaded: tuple | None = None  # (tokenizer, model)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, device={self.device!r})"

    @property
    def local_files_only(self) -> bool:
        return os.environ.get("HF_HUB_OFFLINE") != "0"

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def _load(self) -> tuple:
        """(tokenizer, model), loaded once (thread-safe), in eval mode on :attr:`device`."""
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            import transformers

            try:
                tok = transformers.AutoTokenizer.from_pretrained(self.model_id, local_files_only=self.local_files_only)
                model = getattr(transformers, self.auto_class).from_pretrained(
                    self.model_id, local_files_only=self.local_files_only)
            except (OSError, ValueError) as e:
                hint = (" (loading offline: download it first, or set HF_HUB_OFFLINE=0 to allow a download)"
                        if self.local_files_only else "")
                raise RuntimeError(f"could not load {self.kind} model {self.model_id!r}{hint}: {e}") from e
            self._check(tok)
            model.to(self.device)
            model.eval()
            self._loaded = (tok, model)
            return self._loaded

    def _check(self, tokenizer: object) -> None:
        """Refuse a tokenizer this use cannot work with (raise ``RuntimeError``); all pass here."""

    @property
    def tokenizer(self) -> object:
        """The model's tokenizer (loaded on first use)."""
        return self._load()[0]

    @property
    def model(self) -> object:
        """The model (loaded on first use, in eval mode on :attr:`device`)."""
        return self._load()[1]
