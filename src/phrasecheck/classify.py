"""The reply-tone classifier (ok / rude / evasive). Model loading lives here."""

from __future__ import annotations

from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from .errors import ModelError

__all__ = ["default_model_path", "load_model"]


def default_model_path() -> Traversable | None:
    """The bundled model file, or ``None`` when this installation ships none."""
    from importlib.resources import files

    path = files("phrasecheck") / "models" / "tone.json"
    return path if path.is_file() else None


def load_model(path: Path | Traversable) -> Any:
    raise ModelError(f"cannot load {path}: this phrasecheck has no reply-tone model support yet")
