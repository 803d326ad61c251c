"""A user cache directory for what phrasecheck computes once and reuses to start faster.

Where: ``$PHRASECHECK_CACHE_DIR`` when set (empty: no cache at all), else the platform's user
cache directory: ``$XDG_CACHE_HOME/phrasecheck`` or ``~/.cache/phrasecheck`` (Linux),
``~/Library/Caches/phrasecheck`` (macOS), ``%LOCALAPPDATA%\\phrasecheck\\Cache`` (Windows).
Never the working directory, and never the shared temporary directory, where another user
could plant a file for us to load.

What is safe to keep there:

* every entry's file name carries a key of everything its content depends on (phrasecheck's
  version, Python's Unicode data version, a library's version, the SHA-256 of the input it
  was computed from), so a changed input or an upgrade never reads a stale entry;
* entries are written to a temporary file and renamed into place, so a reader sees a whole
  entry or none, also with several processes at once;
* they are read with formats that cannot run code (JSON, numpy arrays with
  ``allow_pickle=False``), and an entry that does not read back is ignored and rebuilt;
* when the directory cannot be created or written (read-only home, a sandbox), everything
  works as without a cache.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._version import __version__

__all__ = ["cache_dir", "cached_json", "key_of", "paused_gc", "write_atomic"]

_ENV = "PHRASECHECK_CACHE_DIR"


def cache_dir() -> Path | None:
    """This version's cache directory (created), or ``None`` when caching is off or the
    directory cannot be made."""
    env = os.environ.get(_ENV)
    if env is not None:
        if not env.strip():
            return None
        base = Path(env).expanduser()
    elif sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        base = Path(local) / "phrasecheck" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "phrasecheck"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "phrasecheck"
    path = base / __version__
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def key_of(*parts: object) -> str:
    """A short, file-name-safe digest of ``parts`` (what an entry depends on)."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode("utf-8")).hexdigest()[:24]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cached_json(name: str, key: str, build: Callable[[], Any]) -> Any:
    """``build()``, kept as ``<cache>/<name>-<key>.json`` between runs. ``build`` must return
    plain JSON data (dicts with string keys, lists, strings, numbers)."""
    root = cache_dir()
    path = root / f"{name}-{key}.json" if root is not None else None
    if path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            pass  # missing or damaged: build it again
    value = build()
    if path is not None:
        with contextlib.suppress(OSError):
            write_atomic(path, json.dumps(value, ensure_ascii=False,
                                          separators=(",", ":")).encode("utf-8"))
    return value


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while start-up builds its tables.

    Building the lexicon, the automata and the model's term tables creates a few hundred
    thousand objects, none of them garbage; the collector would walk them all again and
    again as they are allocated (~20 % of that work). It is switched back on afterwards (if
    it was on), and nothing is lost: it collects later as usual."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
