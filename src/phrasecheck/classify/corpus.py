"""The labelled reply corpus: ``replies_*.csv`` files → one validated DataFrame.

Reading only; pandas is imported on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LABELS: tuple[str, ...] = ("ok", "rude", "evasive")
REPLY_COLUMNS: tuple[str, ...] = ("id", "text", "label", "domain", "channel", "hard")
#: Optional columns: ``sub`` (the sub-category of a label) and ``context`` (the customer turn
#: the reply answers). Files without them read as empty.
OPTIONAL_COLUMNS: tuple[str, ...] = ("sub", "context")
#: The sub-categories of each label. An evasive reply either passes the buck (``deflect``,
#: 推诿: sent elsewhere without handover or complete information, against 首问负责制) or
#: stonewalls (``stonewall``, 搪塞: nothing to go on — no answer, no date, no commitment); a
#: rude reply is ``rude``; an ok reply is ``ok`` or a responsible ``referral``.
SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "ok": ("ok", "referral"), "rude": ("rude",), "evasive": ("deflect", "stonewall")}


def load_replies(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """All ``replies_*.csv`` files of ``directory`` as one DataFrame.

    Columns ``id, text, label, domain, channel, hard`` (``hard`` as int 0/1), ``sub`` and
    ``context`` (empty where a file has none), plus ``file`` (the file name each row came
    from). Rows keep file order; files are read in name order. A missing column, an unknown
    label or sub-category, an empty text or a duplicate id is a ``ValueError`` naming the
    file and line.
    """
    import pandas as pd

    root = Path(directory)
    paths = sorted(root.glob("replies_*.csv"))
    if not paths:
        raise ValueError(f"{root}: no replies_*.csv files")
    frames = [_read_replies_csv(p) for p in paths]
    df = pd.concat(frames, ignore_index=True)
    dup = df["id"].duplicated(keep="first")
    if dup.any():
        row = df[dup].iloc[0]
        first = df[df["id"] == row["id"]].iloc[0]
        raise ValueError(f"{row['file']}:{row['line']}: duplicate id {row['id']!r} "
                         f"(first at {first['file']}:{first['line']})")
    result: pd.DataFrame = df.drop(columns=["line"])
    return result


def _read_replies_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in REPLY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    df = df[[*REPLY_COLUMNS, *OPTIONAL_COLUMNS]].copy()
    # the header is line 1; rows with quoted newlines would shift this, which the corpus
    # guide forbids
    df["line"] = range(2, len(df) + 2)
    df["file"] = path.name
    for i, row in df.iterrows():
        where = f"{path.name}:{row['line']}"
        if row["label"] not in LABELS:
            raise ValueError(f"{where}: unknown label {row['label']!r} "
                             f"(expected one of: {', '.join(LABELS)})")
        if not str(row["text"]).strip():
            raise ValueError(f"{where}: empty text")
        if row["sub"] and row["sub"] not in SUBCATEGORIES[row["label"]]:
            raise ValueError(f"{where}: sub-category {row['sub']!r} does not belong to "
                             f"{row['label']!r} (expected one of: "
                             f"{', '.join(SUBCATEGORIES[row['label']])})")
        if row["hard"] not in ("0", "1"):
            raise ValueError(f"{where}: hard must be 0 or 1, got {row['hard']!r}")
        del i
    df["hard"] = df["hard"].astype(int)
    result: pd.DataFrame = df
    return result


def fine_labels(df: pd.DataFrame) -> list[str]:
    """The labels a model with sub-categories is trained on: ``deflect`` / ``stonewall`` for
    evasive replies that have a sub-category, the label itself otherwise."""
    return [sub if label == "evasive" and sub else label
            for label, sub in zip(df["label"], df.get("sub", [""] * len(df)), strict=True)]


def _as_frame(data: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """A DataFrame with ``text`` and ``label`` from a frame, a CSV file or a corpus folder."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        df = data
    else:
        path = Path(data)
        if path.is_dir():
            df = load_replies(path)
        elif path.is_file():
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    for col in ("text", "label"):
        if col not in df.columns:
            raise ValueError(f"training data needs columns 'text' and 'label' "
                             f"(found: {', '.join(map(str, df.columns))})")
    return df


def data_sha256(texts: Sequence[str], labels: Sequence[str]) -> str:
    """SHA-256 of the training rows (texts and labels, in order), independent of file layout."""
    h = hashlib.sha256()
    for t, y in zip(texts, labels, strict=True):
        h.update(json.dumps([t, y], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()

