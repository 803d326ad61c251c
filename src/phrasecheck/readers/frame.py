"""Conversations from a pandas DataFrame with one row per turn."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..types import Conversation, ReadError
from ._common import Builder, Options, Records, finish, id_text

if TYPE_CHECKING:
    import pandas as pd


def conversations_from_frame(
        df: pd.DataFrame, *, id: str = "conversation_id", role: str = "role",
        text: str = "text", start: str | None = None, end: str | None = None,
        speaker: str | None = None, turn: str | None = None,
        metadata: Sequence[str] | None = None, role_map: Mapping[str, str] | None = None,
        speaker_roles: Mapping[str, str] | None = None, infer_roles: bool = True,
        layout: str = "labelled",
        on_error: Callable[[ReadError], None] | None = None) -> Iterator[Conversation]:
    """One Conversation per distinct id (rows grouped by id, first appearance order).

    ``start``/``end``/``speaker``/``turn`` name optional columns; when ``turn`` is given, turns
    are ordered by it. ``metadata`` lists the columns kept as conversation metadata (taken from
    the first row); by default every column not used otherwise. ``role`` may be a column of
    speaker labels (roles are then inferred). Rows without text, and conversations left with
    no turns, are skipped and reported to ``on_error``. A missing column raises KeyError.
    A frame names its role column, so a row without a role is an error (``layout=
    "labelled"``); ``layout="auto"`` reads a conversation whose rows all lack one as an
    undiarised transcript.
    """
    columns = [str(c) for c in df.columns]
    used = {"id": id, "role": role, "text": text, "start": start, "end": end,
            "speaker": speaker, "turn": turn}
    for what, col in used.items():
        if col is not None and col not in columns and not (what in ("role",) and speaker):
            raise KeyError(f"no column {col!r} for {what} (columns: {', '.join(columns)})")
    if metadata is not None:
        missing = [m for m in metadata if m not in columns]
        if missing:
            raise KeyError(f"no metadata column {missing!r} (columns: {', '.join(columns)})")
    taken = {c for c in used.values() if c is not None}
    meta_cols = list(metadata) if metadata is not None else [c for c in columns if c not in taken]
    fields = {"conversation_id": id, "role": role, "text": text}
    for key, col in (("start", start), ("end", end), ("speaker", speaker), ("turn", turn)):
        # an unused optional field must not pick up a same-named metadata column
        fields[key] = col if col is not None else f"\0unused-{key}"
    opts = Options.build(role_map=role_map, fields=fields, speaker_roles=speaker_roles,
                         infer_roles=infer_roles, layout=layout)
    return _iter(df, opts, id, meta_cols, turn is not None, on_error)


def _iter(df: pd.DataFrame, opts: Options, id_col: str, meta_cols: list[str], sort: bool,
          on_error: Callable[[ReadError], None] | None) -> Iterator[Conversation]:
    path = "<DataFrame>"
    records = Records(path, "frame", opts, sort=sort)
    names = [str(c) for c in df.columns]

    def report(e: ReadError) -> None:
        if on_error is not None:
            on_error(e)

    for _, group in df.groupby(df[id_col].map(id_text), sort=False, dropna=False):
        b: Builder | None = None
        for pos, row in enumerate(group.itertuples(index=False, name=None)):
            rec: dict[str, Any] = dict(zip(names, row, strict=True))
            cid = id_text(rec.get(id_col))
            if cid is None:
                report(ReadError(path, None, f"row without {id_col!r}"))
                continue
            if b is None:
                b = Builder(cid)
                for col in meta_cols:
                    b.meta(col, rec.get(col))
            t, errors = records.turn(rec, None, cid, what=f"row {pos} of {cid!r}")
            for e in errors:
                report(e)
            if t is not None:
                b.turns.append(t)
        if b is None:
            continue
        result = finish(b, path, "frame", opts, sort=sort)
        if isinstance(result, ReadError):
            report(result)
        else:
            yield result
