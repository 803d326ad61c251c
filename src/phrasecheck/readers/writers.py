"""Writing conversations back out, in every format the readers read (exports, round-trip tests)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..types import Conversation, Turn
from ._common import ROLE_ALIASES, plain
from .txt import SPEAKER_LABEL

WRITE_FORMATS = ("txt", "jsonl", "jsonl-messages", "json", "csv", "xlsx")
_BY_SUFFIX = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
              ".csv": "csv", ".xlsx": "xlsx"}
_SKIP_META = ("source", "format", "role_inference")
_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*\s]+')


def _scalar_meta(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): plain(v) for k, v in metadata.items()
            if k not in _SKIP_META and isinstance(plain(v), str | int | float | bool)}


def _json_meta(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in metadata.items() if k not in ("source", "format")}


def _clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _label(turn: Turn) -> str:
    spk = turn.speaker
    if spk and ":" not in spk and "：" not in spk and spk.strip() == spk:
        if ROLE_ALIASES.get(spk.casefold()) == turn.role:
            return spk
        if turn.role == "unknown" and SPEAKER_LABEL.fullmatch(spk):
            return spk
    return turn.role if turn.role in ("agent", "customer", "system") else "unknown"


def conversation_to_txt(conv: Conversation, with_id: bool = True) -> str:
    """The text form: ``# id:`` and metadata headers, then ``[hh:mm:ss.mmm] label: text`` lines.

    Multi-line texts are written as continuation lines (blank lines inside a text are lost,
    and a continuation line that itself looks like ``label: ...`` would read back as a turn).
    """
    lines: list[str] = []
    if with_id:
        lines.append(f"# id: {conv.id}")
    for key, value in _scalar_meta(conv.metadata).items():
        text = str(value)
        if key in ("id", "conversation_id") or not re.fullmatch(r"[^:：\n\r#]{1,40}", key) \
                or "\n" in text or "\r" in text:
            continue
        lines.append(f"# {key}: {text}")
    for t in conv.turns:
        stamp = ""
        if t.start is not None:
            stamp = f"[{_clock(t.start)}" + (f" - {_clock(t.end)}" if t.end is not None else "")
            stamp += "] "
        body = t.text.replace("\r\n", "\n").replace("\r", "\n")
        lines.append(f"{stamp}{_label(t)}: {body}")
    return "\n".join(lines) + "\n"


def _turn_dict(t: Turn) -> dict[str, Any]:
    d: dict[str, Any] = {"role": t.role, "text": t.text}
    for key in ("start", "end", "speaker"):
        value = getattr(t, key)
        if value is not None:
            d[key] = value
    return d


def conversation_to_dict(conv: Conversation) -> dict[str, Any]:
    return {"id": conv.id, "turns": [_turn_dict(t) for t in conv.turns],
            "metadata": _json_meta(conv.metadata)}


def _rows(conversations: Iterable[Conversation]) -> tuple[list[str], list[list[Any]]]:
    convs = list(conversations)
    meta_keys: list[str] = []
    for c in convs:
        for k in _scalar_meta(c.metadata):
            if k not in meta_keys and k not in _COLUMNS:
                meta_keys.append(k)
    header = [*_COLUMNS, *meta_keys]
    rows: list[list[Any]] = []
    for c in convs:
        meta = _scalar_meta(c.metadata)
        for t in c.turns:
            rows.append([c.id, t.index, t.role, t.speaker, t.text, t.start, t.end,
                         *(meta.get(k) for k in meta_keys)])
    return header, rows


_COLUMNS = ["conversation_id", "turn", "role", "speaker", "text", "start", "end"]


def _dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str, **kw)


def _messages(conv: Conversation) -> Iterator[dict[str, Any]]:
    meta = _scalar_meta(conv.metadata)
    for t in conv.turns:
        msg: dict[str, Any] = {"conversation_id": conv.id, **_turn_dict(t)}
        if t.index == 0:
            for k, v in meta.items():
                msg.setdefault(k, v)
        yield msg


def _safe_name(cid: str) -> str:
    name = _UNSAFE.sub("_", cid).strip("._") or "conversation"
    return name[:100]


def write_conversations(conversations: Iterable[Conversation], path: str | os.PathLike[str],
                        format: str | None = None) -> None:
    """Write conversations as txt, jsonl, jsonl-messages, json, csv or xlsx.

    The format comes from ``format`` or the suffix of ``path``; a directory (existing, or a path
    without a suffix) means txt, one file per conversation named after its id (a ``# id:``
    header keeps the exact id). A single ``.txt`` path takes exactly one conversation.
    Files are written as UTF-8.
    """
    p = Path(path)
    fmt = format or ("txt" if p.is_dir() or not p.suffix else _BY_SUFFIX.get(p.suffix.lower()))
    if fmt not in WRITE_FORMATS:
        raise ValueError(f"cannot tell the format of {os.fspath(path)!r}; pass format= "
                         f"(available: {', '.join(WRITE_FORMATS)})")
    if fmt == "txt":
        if p.is_dir() or not p.suffix:
            p.mkdir(parents=True, exist_ok=True)
            used: set[str] = set()
            for conv in conversations:
                base = stem = _safe_name(conv.id)
                n = 2
                while stem.casefold() in used:
                    stem, n = f"{base}-{n}", n + 1
                used.add(stem.casefold())
                (p / f"{stem}.txt").write_text(conversation_to_txt(conv), encoding="utf-8")
            return
        convs = list(conversations)
        if len(convs) != 1:
            raise ValueError(f"a .txt file holds one conversation, got {len(convs)}; "
                             "pass a directory to write one file per conversation")
        p.write_text(conversation_to_txt(convs[0]), encoding="utf-8")
        return
    if fmt in ("jsonl", "jsonl-messages"):
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            for conv in conversations:
                if fmt == "jsonl":
                    f.write(_dumps(conversation_to_dict(conv)) + "\n")
                else:
                    for msg in _messages(conv):
                        f.write(_dumps(msg) + "\n")
        return
    if fmt == "json":
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write("[")
            for i, conv in enumerate(conversations):
                body = _dumps(conversation_to_dict(conv), indent=2).replace("\n", "\n  ")
                f.write(("," if i else "") + "\n  " + body)
            f.write("\n]\n")
        return
    header, rows = _rows(conversations)
    if fmt == "csv":
        import csv

        with open(p, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        return
    _write_xlsx(p, header, rows)


def _write_xlsx(p: Path, header: list[str], rows: list[list[Any]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from .._xml import xml_safe

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("turns")

    def cell(value: Any) -> Any:
        if isinstance(value, str):
            # xlsx (XML 1.0) cannot hold control characters, U+FFFE/U+FFFF or lone surrogates
            c = WriteOnlyCell(ws, value=xml_safe(value))
            c.data_type = "s"  # never a formula, even if the text starts with '='
            return c
        return value

    ws.append(header)
    for row in rows:
        ws.append([cell(v) for v in row])
    wb.save(p)
