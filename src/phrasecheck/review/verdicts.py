"""Review verdicts: what a QA reviewer decided about a finding or a failed rule, and the
files they travel in.

A verdict names what it is about by a key that survives a re-run of the same transcripts
(and the bounded context windows, streaming writers and unique ids of the batch outputs):

* a finding: ``("finding", conversation_id, turn, start, end, code)``: the conversation id
  as the run wrote it, the turn index, the half-open span in the turn's original text and
  the finding's code;
* a failed rule: ``("rule", conversation_id, rule_id)``.

The ``rule`` column of a finding's verdict names the rules the finding counted against:
it is kept for the statistics, not matched (a verdict on a banned phrase still applies when
a policy adds a rule that counts it too).

Files: CSV (UTF-8, with or without a BOM; the header in English keys or in the Excel
report's Chinese or English headers), JSON (a list, or an object with a ``verdicts`` list, as
the HTML report exports), JSONL, and the Excel report itself (its Violations sheet, with the
verdict column filled in). Verdict values are ``confirmed`` / ``false_positive`` /
``pending`` or their labels (确认 / 误报 / 待定, "false alarm"). A row that cannot be read is
reported with its file and line, never dropped silently.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .. import i18n

__all__ = [
    "VERDICT_COLUMNS",
    "VERDICT_VALUES",
    "Verdict",
    "VerdictProblem",
    "finding_key",
    "read_verdicts",
    "rule_key",
    "write_verdicts",
]

VERDICT_VALUES: tuple[str, ...] = ("confirmed", "false_positive", "pending")
VERDICT_COLUMNS: tuple[str, ...] = (
    "conversation_id", "target", "turn", "start", "end", "code", "rule", "text", "context",
    "verdict", "reviewer", "comment", "time")

Key = tuple[Any, ...]


def finding_key(conversation_id: Any, turn: Any, start: Any, end: Any, code: Any) -> Key:
    """The review key of a finding."""
    return ("finding", str(conversation_id), _int(turn), _int(start), _int(end),
            None if code is None or code == "" else str(code))


def rule_key(conversation_id: Any, rule_id: Any) -> Key:
    """The review key of a rule's outcome in one conversation."""
    return ("rule", str(conversation_id), str(rule_id))


@dataclass(frozen=True, slots=True)
class Verdict:
    """One reviewer's decision on one finding (``target="finding"``) or failed rule
    (``target="rule"``). ``origin`` says where it was read (``file:line``)."""

    conversation_id: str
    target: str
    verdict: str
    turn: int | None = None
    start: int | None = None
    end: int | None = None
    code: str | None = None
    rule: str | None = None
    reviewer: str = ""
    comment: str = ""
    time: str = ""
    text: str = ""
    context: str = ""
    origin: str = field(default="", compare=False)

    @property
    def key(self) -> Key:
        if self.target == "rule":
            return rule_key(self.conversation_id, self.rule)
        return finding_key(self.conversation_id, self.turn, self.start, self.end, self.code)

    @property
    def dismissed(self) -> bool:
        """A false alarm: it no longer deducts."""
        return self.verdict == "false_positive"

    @property
    def when(self) -> datetime.datetime:
        """``time`` as an aware datetime (the earliest possible one when absent or bad)."""
        return _parse_time(self.time)

    def to_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in VERDICT_COLUMNS}

    def identity(self) -> tuple[Any, ...]:
        """What makes two verdict rows the same decision (merging one twice adds nothing)."""
        return (self.key, self.verdict, self.reviewer, self.comment, self.time)


@dataclass(frozen=True, slots=True)
class VerdictProblem:
    """A verdict row that could not be read, and why."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else (
            f"{self.path}: {self.reason}")


_MIN_TIME = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


def _parse_time(text: str) -> datetime.datetime:
    if not text:
        return _MIN_TIME
    s = text.strip().replace("Z", "+00:00")
    try:
        t = datetime.datetime.fromisoformat(s)
    except ValueError:
        return _MIN_TIME
    return t if t.tzinfo is not None else t.replace(tzinfo=datetime.timezone.utc)


def _int(v: Any) -> int | None:
    if v is None or v == "" or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, bool):
        raise ValueError(f"expected a whole number, got {v!r}")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"expected a whole number, got {v!r}")
        return int(v)
    return int(str(v).strip())


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    s = str(v)
    # a CSV cell neutralised against formula injection ('=...) is read back as written
    if len(s) > 1 and s[0] == "'" and s[1:].lstrip(" \u00a0\u3000\n")[:1] in set(
            "=+-@\t\r＝＋－＠"):
        s = s[1:]
    return s


def _column_names() -> dict[str, str]:
    """Every header a verdict column may carry (its key, its Excel headers) -> key."""
    names: dict[str, str] = {}
    for key in (*VERDICT_COLUMNS, "rules", "id"):
        names[key] = key
        for lang in i18n.LANGS:
            names.setdefault(i18n.column_label(key, lang), key)
    names["rules"] = "rule"
    names["id"] = "conversation_id"
    return names


def verdict_from_row(row: Mapping[str, Any], origin: str = "") -> Verdict | None:
    """A :class:`Verdict` from a row keyed by column names (a ``ValueError`` says what is
    wrong); ``None`` for a row without a verdict (an Excel row nobody reviewed)."""
    names = _column_names()
    data: dict[str, Any] = {}
    for k, v in row.items():
        key = names.get(str(k).strip())
        if key is not None and key not in data:
            data[key] = v
    raw = _text(data.get("verdict")).strip()
    if not raw:
        return None
    verdict = i18n.value_from_label("verdict", raw)
    if verdict is None:
        raise ValueError(f"unknown verdict {raw!r} (expected one of: 确认/confirmed, "
                         "误报/false_positive, 待定/pending)")
    cid = _text(data.get("conversation_id")).strip()
    if not cid:
        raise ValueError("no conversation_id")
    target_raw = _text(data.get("target")).strip()
    target = i18n.value_from_label("target", target_raw) if target_raw else None
    if target_raw and target is None:
        raise ValueError(f"unknown target {target_raw!r} (expected finding or rule)")
    try:
        turn, start, end = (_int(data.get(c)) for c in ("turn", "start", "end"))
    except ValueError as exc:
        raise ValueError(f"turn/start/end: {exc}") from None
    code = _text(data.get("code")).strip() or None
    rule = _text(data.get("rule")).strip() or None
    if target is None:
        target = "finding" if code is not None and start is not None else "rule"
    if target == "finding" and (code is None or start is None or end is None):
        raise ValueError("a finding's verdict needs code, start and end")
    if target == "rule":
        if rule is None:
            raise ValueError("a rule's verdict needs the rule id")
        turn = start = end = None
        code = None
    return Verdict(cid, target, verdict, turn, start, end, code, rule,
                   reviewer=_text(data.get("reviewer")).strip(),
                   comment=_text(data.get("comment")).strip(),
                   time=_text(data.get("time")).strip(), text=_text(data.get("text")),
                   context=_text(data.get("context")), origin=origin)


# ------------------------------------------------------------------------------ reading


def read_verdicts(paths: Iterable[str | os.PathLike[str]]
                  ) -> tuple[list[Verdict], list[VerdictProblem]]:
    """Every verdict in ``paths`` (csv, json, jsonl, xlsx), in file order, and the rows that
    could not be read."""
    verdicts: list[Verdict] = []
    problems: list[VerdictProblem] = []
    for p in paths:
        path = Path(p)
        name = str(path)
        if not path.is_file():
            problems.append(VerdictProblem(name, None, "no such file"))
            continue
        try:
            rows = list(_rows(path))
        except (OSError, ValueError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(VerdictProblem(name, getattr(exc, "lineno", None),
                                           f"cannot read: {exc}"))
            continue
        for line, row in rows:
            try:
                v = verdict_from_row(row, f"{name}:{line}")
            except ValueError as exc:
                problems.append(VerdictProblem(name, line, str(exc)))
                continue
            if v is not None:
                verdicts.append(v)
    return verdicts, problems


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = path.read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            yield reader.line_num, row
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8-sig") as fh:
            for i, line in enumerate(fh, start=1):
                if line.strip():
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError(f"line {i}: expected an object")
                    yield i, obj
    elif suffix == ".json":
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        items = doc.get("verdicts") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise ValueError("expected a list of verdicts, or an object with 'verdicts'")
        for i, obj in enumerate(items, start=1):
            if not isinstance(obj, dict):
                raise ValueError(f"verdict {i}: expected an object")
            yield i, obj
    elif suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
    else:
        raise ValueError(f"unknown verdict file type {suffix or '(none)'} "
                         "(expected .csv, .json, .jsonl or .xlsx)")


def _xlsx_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The rows of every sheet that has a verdict column (the Excel report's Violations)."""
    from openpyxl import load_workbook

    names = _column_names()
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        found = False
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                continue
            keys = [names.get(str(h).strip(), str(h)) if h is not None else "" for h in header]
            if "verdict" not in keys:
                continue
            found = True
            for i, values in enumerate(rows, start=2):
                yield i, dict(zip(keys, values, strict=False))
        if not found:
            raise ValueError("no sheet with a verdict column (复核结论 / Verdict)")
    finally:
        wb.close()


# ------------------------------------------------------------------------------ writing


def write_verdicts(path: str | os.PathLike[str], verdicts: Sequence[Verdict]) -> None:
    """Verdicts to a CSV (UTF-8 with a BOM, formula-like cells neutralised), JSON or JSONL
    file, by the suffix of ``path``."""
    from ..reports._atomic import atomic_write

    p = Path(path)
    rows = [v.to_dict() for v in verdicts]
    if p.suffix.lower() == ".csv":
        from ..reports.csvsafe import neutralise_row

        with atomic_write(p, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(VERDICT_COLUMNS))
            w.writeheader()
            for r in rows:
                w.writerow(neutralise_row(r))
    elif p.suffix.lower() == ".jsonl":
        with atomic_write(p, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        with atomic_write(p, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"format": "phrasecheck-verdicts", "version": 1,
                                 "verdicts": rows}, ensure_ascii=False, indent=1) + "\n")


def with_origin(v: Verdict, origin: str) -> Verdict:
    return replace(v, origin=origin)


_FIELDS = tuple(f.name for f in fields(Verdict))
