"""Turning paths, directories and globs into the list of files to read."""

from __future__ import annotations

import glob
import os
from collections import defaultdict
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


def txt_ids(files: Iterable[PathInput]) -> dict[str, str]:
    """Conversation ids for the ``.txt`` files of one run whose stems collide.

    A transcript's id is its file stem, so ``day1/call_0001.txt`` and ``day2/call_0001.txt``
    would both be ``call_0001``. Each file of a colliding group gets the shortest tail of
    its path that tells the group apart (``day1/call_0001``, ``day2/call_0001``); files
    whose stem is unique keep it. Keys are ``os.fspath`` of the given paths.
    """
    from .._unicode import display_path

    groups: dict[str, list[str]] = defaultdict(list)
    for f in files:
        name = os.fspath(f)
        if name != "-" and FORMATS.get(Path(name).suffix.lower()) == "txt":
            groups[display_path(Path(name).stem)].append(name)
    out: dict[str, str] = {}
    for stem, names in groups.items():
        if len(names) < 2:
            continue
        parts = [Path(display_path(os.path.abspath(n))).parts for n in names]
        deepest = max(len(p) for p in parts)
        for k in range(2, deepest + 1):  # k path components, the last one the stem
            ids = ["/".join((*p[-k:-1], stem)) for p in parts]
            if len(set(ids)) == len(ids):
                break
        else:  # the same folder: only the suffixes differ (call.txt, call.TXT)
            ids = ["/".join(p[-k:]) for p in parts]
        out.update(zip(names, ids))
    return out
