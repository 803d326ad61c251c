"""Turning paths, directories and globs into the list of files to read."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import Path

#: File suffixes the readers know, and their format.
FORMATS: dict[str, str] = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl",
                           ".json": "json", ".csv": "csv", ".xlsx": "xlsx"}
#: Files a directory or glob never yields unless named explicitly.
DEFAULT_EXCLUDE: tuple[str, ...] = ("README*", "gold.csv", "*.md")

PathInput = str | os.PathLike[str]


def as_input_list(inputs: PathInput | Iterable[PathInput]) -> list[str]:
    """Normalise ``inputs`` to a list of path strings; TypeError for anything else."""
    if isinstance(inputs, str | os.PathLike):
        items: list[object] = [inputs]
    elif isinstance(inputs, bytes) or not isinstance(inputs, Iterable):
        raise TypeError(f"inputs must be a path, a glob or an iterable of them, "
                        f"got {type(inputs).__name__}")
    else:
        items = list(inputs)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str | os.PathLike):
            raise TypeError(f"each input must be a str or os.PathLike, got {type(item).__name__}")
        s = os.fspath(item)
        if not isinstance(s, str):
            raise TypeError(f"each input must be a text path, got {s!r}")
        out.append(s)
    return out


def _excluded(path: Path, root: Path | None, exclude: Sequence[str]) -> bool:
    name = path.name
    if name.startswith((".", "~$")):  # hidden files, Office lock files
        return True
    rel = path.relative_to(root).as_posix() if root is not None else path.as_posix()
    return any(fnmatch(name, pat) or fnmatch(rel, pat) for pat in exclude)


def _walk(root: Path, exclude: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            p = Path(dirpath) / f
            if p.suffix.lower() in FORMATS and not _excluded(p, root, exclude):
                found.append(p)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def expand_inputs(inputs: PathInput | Iterable[PathInput],
                  exclude: Sequence[str] = DEFAULT_EXCLUDE) -> tuple[list[Path], list[str]]:
    """``(files, unmatched)`` for paths, directories and globs.

    A directory is searched recursively for files with a supported suffix, sorted; a glob
    (``*``, ``?``, ``[...]``, ``**``) is expanded, sorted, directories in it searched. Files found
    through a directory or glob whose name (or relative path) matches an ``exclude`` pattern, or
    that are hidden, are skipped; a file named explicitly is always read, whatever its suffix.
    ``-`` (stdin) is passed through as ``Path("-")``. Each file appears once.
    """
    if isinstance(exclude, str):
        exclude = (exclude,)
    files: list[Path] = []
    unmatched: list[str] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.normcase(os.path.abspath(p)) if str(p) != "-" else "-"
        if key not in seen:
            seen.add(key)
            files.append(p)

    for item in as_input_list(inputs):
        p = Path(item)
        if item == "-":
            add(p)
        elif p.is_dir():
            found = _walk(p, exclude)
            if not found:
                unmatched.append(item)
            for f in found:
                add(f)
        elif p.is_file():
            add(p)
        elif glob.has_magic(item):
            hits: list[Path] = []
            for m in sorted(glob.glob(item, recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    hits.extend(_walk(mp, exclude))
                elif mp.is_file() and not _excluded(mp, None, exclude):
                    hits.append(mp)
            if not hits:
                unmatched.append(item)
            for h in hits:
                add(h)
        else:
            unmatched.append(item)
    return files, unmatched
