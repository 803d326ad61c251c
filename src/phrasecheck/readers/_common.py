"""Shared pieces of the readers: role aliases, options, times, and building conversations."""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._unicode import LONE_SURROGATE, scrub, scrub_value
from ..types import ROLES, Conversation, ReadError, Turn, positional_maker
from ._text import MAX_CHARS, MAX_XLSX_BYTES, too_long
from .roles import assign_roles, speaker_key

_AGENT = ("坐席", "客服", "工作人员", "话务员", "接线员", "柜员", "服务人员", "窗口", "导诊",
          "agent", "staff", "operator", "csr")
_CUSTOMER = ("客户", "来电人", "市民", "用户", "顾客", "患者", "家属", "群众", "当事人", "来访人",
             "买家", "customer", "caller", "user", "client")
_SYSTEM = ("系统", "IVR", "system", "机器人")

_aliases: dict[str, str] = {r: r for r in ROLES}
_aliases.update({a.casefold(): "agent" for a in _AGENT})
_aliases.update({a.casefold(): "customer" for a in _CUSTOMER})
_aliases.update({a.casefold(): "system" for a in _SYSTEM})

#: Speaker labels that name a role (case-insensitive; keys are case-folded) -> role.
ROLE_ALIASES: Mapping[str, str] = _aliases

#: How speakers are marked in the input: ``labelled`` (every turn has a role or speaker
#: label), ``mono`` (undiarised: no labels at all, roles are inferred, see
#: :mod:`phrasecheck.diarize`) or ``auto`` (labelled where labels exist, mono otherwise).
LAYOUTS = ("auto", "mono", "labelled")

#: Canonical field names a ``fields=`` mapping may rename.
FIELD_NAMES = ("conversation_id", "role", "text", "ts", "start", "end", "speaker", "turn",
               "id", "turns", "metadata")


@dataclass(frozen=True)
class Options:
    """Reader options, validated once."""

    aliases: Mapping[str, str] = field(default_factory=lambda: dict(ROLE_ALIASES))
    fields: Mapping[str, str] = field(default_factory=dict)
    speaker_roles: Mapping[str, str] = field(default_factory=dict)
    infer_roles: bool = True
    encoding: str | None = None
    max_chars: int = MAX_CHARS
    max_xlsx_bytes: int = MAX_XLSX_BYTES
    layout: str = "auto"

    @classmethod
    def build(cls, *, encoding: str | None = None, role_map: Mapping[str, str] | None = None,
              fields: Mapping[str, str] | None = None,
              speaker_roles: Mapping[str, str] | None = None,
              infer_roles: bool = True, max_chars: int | None = None,
              max_xlsx_bytes: int | None = None, layout: str = "auto") -> Options:
        aliases = dict(ROLE_ALIASES)
        for label, role in (role_map or {}).items():
            if not isinstance(label, str) or role not in ROLES:
                raise ValueError(f"role_map: {label!r} -> {role!r}: role must be one of "
                                 f"{', '.join(ROLES)}")
            aliases[label.strip().casefold()] = role
        for key, name in (fields or {}).items():
            if key not in FIELD_NAMES:
                raise ValueError(f"fields: unknown field {key!r} (known: {', '.join(FIELD_NAMES)})")
            if not isinstance(name, str):
                raise TypeError(f"fields[{key!r}] must be a column name, got {name!r}")
        sroles: dict[str, str] = {}
        for label, role in (speaker_roles or {}).items():
            resolved = aliases.get(str(role).strip().casefold())
            if resolved is None:
                raise ValueError(f"speaker_roles: {label!r} -> {role!r}: role must be one of "
                                 f"{', '.join(ROLES)} or an alias")
            sroles[speaker_key(label)] = resolved
        if encoding is not None and not isinstance(encoding, str):
            raise TypeError(f"encoding must be a str, got {type(encoding).__name__}")
        for name, value in (("max_chars", max_chars), ("max_xlsx_bytes", max_xlsx_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{name}={value!r}: expected a whole number >= 1")
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r}: expected one of {', '.join(LAYOUTS)}")
        return cls(aliases, dict(fields or {}), sroles, bool(infer_roles), encoding,
                   max_chars or MAX_CHARS, max_xlsx_bytes or MAX_XLSX_BYTES, layout)

    def name(self, canonical: str) -> str:
        """The field or column name used for ``canonical`` in the input."""
        return self.fields.get(canonical, canonical)

    def role_of(self, label: str) -> str | None:
        return self.aliases.get(label.strip().casefold())


def py(value: Any) -> Any:
    """NumPy scalars (from DataFrames) as Python values."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def missing(value: Any) -> bool:
    """None, NaN, or pandas' NA/NaT (recognised without importing pandas)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


# ---------------------------------------------------------------- times

_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$")


def parse_clock(text: str) -> float | None:
    """``HH:MM:SS(.fff)`` or ``MM:SS`` -> seconds, else None."""
    m = _CLOCK.match(text.strip())
    if not m:
        return None
    h, mnt, sec = m.groups()
    return int(h or 0) * 3600 + int(mnt) * 60 + float(sec.replace(",", "."))


TimeValue = float | _dt.datetime | None


def parse_time(value: Any) -> TimeValue:
    """Seconds (number, numeric string, clock string, time/timedelta) or an absolute datetime.

    Raises ValueError for something that is not a time.
    """
    if value is None:
        return None
    if type(value) is float and math.isfinite(value):  # the usual cases, first
        return value
    value = py(value)
    if missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return None
        if not math.isfinite(value):
            raise ValueError(f"not a time: {value!r}")
        return float(value)
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, _dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        s = value.strip()
        try:
            f = float(s)
        except ValueError:
            pass
        else:
            if math.isfinite(f):
                return f
        clock = parse_clock(s)
        if clock is not None:
            return clock
        try:
            return _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            pass
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        result: _dt.datetime = value.to_pydatetime()
        return result
    raise ValueError(f"not a time: {value!r}")


def plain(value: Any) -> Any:
    """Metadata values as JSON-friendly scalars (dates as ISO strings, whole floats as ints)."""
    value = py(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def id_text(value: Any) -> str | None:
    """A conversation id as text: 1001.0 -> '1001'; empty/None/NaN/NA -> None."""
    value = py(value)
    if missing(value):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    s = str(value).strip()
    return s or None


# ---------------------------------------------------------------- building conversations


@dataclass(slots=True)
class RawTurn:
    role: str
    text: str
    start: TimeValue = None
    end: TimeValue = None
    speaker: str | None = None
    line: int | None = None
    order: float | None = None


@dataclass
class Builder:
    """Collects the turns and metadata of one conversation."""

    id: str
    line: int | None = None
    turns: list[RawTurn] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def meta(self, key: str, value: Any) -> None:
        if key in self.metadata or missing(value) or (isinstance(value, str) and not value):
            return
        self.metadata[key] = plain(value)


def role_and_speaker(opts: Options, role: Any, speaker: Any) -> tuple[str, str | None]:
    """Resolve a role value through the aliases; an unknown role value is a speaker label."""
    spk = None if speaker is None or str(speaker).strip() == "" else str(speaker).strip()
    if role is None or str(role).strip() == "":
        resolved = opts.role_of(spk) if spk else None
        return (resolved or "unknown"), spk
    r = str(role).strip()
    resolved = opts.role_of(r)
    if resolved is not None:
        return resolved, spk
    return "unknown", spk or r


def _relative(values: list[TimeValue], t0: _dt.datetime | None) -> list[float | None]:
    if t0 is None and not any(isinstance(v, _dt.datetime) for v in values):
        return values  # type: ignore[return-value]  # no datetimes: floats and Nones only
    out: list[float | None] = []
    for v in values:
        if isinstance(v, _dt.datetime):
            try:
                out.append(None if t0 is None else (v - t0).total_seconds())
            except TypeError:  # naive and aware datetimes mixed
                out.append(None)
        else:
            out.append(v)
    return out


_SURROGATE = LONE_SURROGATE.search


def _bad_value(value: Any) -> bool:
    """A lone surrogate somewhere in metadata (keys, strings, nested lists and mappings)."""
    if isinstance(value, str):
        return _SURROGATE(value) is not None
    if isinstance(value, Mapping):
        return any(_bad_value(k) or _bad_value(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_bad_value(v) for v in value)
    return False


_make_turn = positional_maker(Turn)


def finish(b: Builder, path: str, fmt: str, opts: Options,
           sort: bool = False) -> Conversation | ReadError:
    """Turn a builder into a Conversation (roles inferred, times relative) or a 'no turns' error."""
    raw = [t for t in b.turns if t.text]
    if not raw:
        return ReadError(path, b.line, "no turns", b.id)
    size = sum(len(t.text) for t in raw)
    if size > opts.max_chars:
        return ReadError(path, b.line, too_long(f"conversation of {size:,} characters",
                                                opts.max_chars) + "; not scored", b.id)
    if sort and all(t.order is not None for t in raw):
        raw.sort(key=lambda t: t.order if t.order is not None else 0.0)
    raw_starts = [t.start for t in raw]
    raw_ends = [t.end for t in raw]
    t0 = None
    if any(raw_starts) or any(raw_ends):  # no times (or only 0.0): no datetime to find
        t0 = next((v for v in (*raw_starts, *raw_ends) if isinstance(v, _dt.datetime)), None)
    starts = _relative(raw_starts, t0)
    ends = _relative(raw_ends, t0)
    metadata: dict[str, Any] = dict(b.metadata)
    if all(t.role == "unknown" and t.speaker is None for t in raw):
        mono = _mono_turns(b, raw, starts, path, metadata)
        if isinstance(mono, ReadError):
            return mono
        turns = mono
    else:
        roles, inference = assign_roles(
            [(t.role, t.speaker, t.text) for t in raw], opts.speaker_roles, opts.infer_roles)
        if inference is not None:
            metadata["role_inference"] = inference
        # Turn(index, role, text, start, end, speaker, line), a hot loop
        make = _make_turn
        turns = tuple(make(i, roles[i], t.text, starts[i], ends[i], t.speaker, t.line)
                      for i, t in enumerate(raw))
    metadata["source"] = path
    metadata["format"] = fmt
    cid = b.id
    if (any(_SURROGATE(t.text) for t in turns) or _SURROGATE(cid)
            or any(t.speaker and _SURROGATE(t.speaker) for t in turns)
            or _bad_value(metadata)):
        # half an emoji (a JSON escape such as "\\ud83d"), or a stray surrogate escape: the
        # turn is kept with U+FFFD in its place, one character for one
        turns = tuple(Turn(t.index, t.role, scrub(t.text), t.start, t.end,
                           None if t.speaker is None else scrub(t.speaker), t.line)
                      for t in turns)
        cid, metadata = scrub(cid), scrub_value(metadata)
    return Conversation(id=cid, turns=turns, metadata=metadata)


def _mono_turns(b: Builder, raw: list[RawTurn], starts: list[float | None], path: str,
                metadata: dict[str, Any]) -> tuple[Turn, ...] | ReadError:
    """An undiarised conversation: its texts (lines or records) split into turns with roles
    inferred by :func:`phrasecheck.diarize.diarize`; what was inferred goes into
    ``metadata`` (``layout``, ``role_inference``, one ``role_confidence`` per turn)."""
    from ..diarize import diarize
    from ..errors import ModelError

    try:
        mono = diarize([t.text for t in raw])
    except ModelError as e:
        return ReadError(path, b.line, f"undiarised transcript, and {e}", b.id)
    if not mono:
        return ReadError(path, b.line, "no turns", b.id)
    conf = [m.confidence for m in mono]
    metadata["layout"] = "mono"
    metadata["role_inference"] = {
        "method": "mono-crf", "confidence": round(sum(conf) / len(conf), 4),
        "min_confidence": min(conf), "turns": len(mono), "pieces": sum(m.pieces for m in mono)}
    metadata["role_confidence"] = conf
    return tuple(Turn(i, m.role, m.text, starts[m.chunk] if m.start == 0 else None, None, None,
                      raw[m.chunk].line)
                 for i, m in enumerate(mono))


# ---------------------------------------------------------------- records (jsonl, csv, xlsx)

Result = Conversation | ReadError


def _text_value(value: Any) -> str | None:
    if type(value) is str:  # the usual case, first
        return value.strip() or None
    if value is None:  # the next most usual: a field the record does not have (speaker)
        return None
    value = py(value)
    if missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, int | str):
        s = str(value).strip()
        return s or None
    return None


class Records:
    """Groups records (messages, rows) into conversations.

    A record belongs to the conversation named by its id; the records of one conversation must be
    contiguous, so a conversation is finished (and yielded) as soon as another id appears. An id
    that comes back later is an error for each of its late records.
    """

    def __init__(self, path: str, fmt: str, opts: Options, sort: bool = False) -> None:
        self.path, self.fmt, self.opts, self.sort = path, fmt, opts, sort
        self.current: Builder | None = None
        self.done: dict[str, int | None] = {}
        n = opts.name
        self.known = {n(k) for k in ("conversation_id", "role", "text", "ts", "start", "end",
                                     "speaker", "turn")}
        # the input's name of every field, looked up once (the per-turn path is hot)
        self.names = {k: n(k) for k in FIELD_NAMES}
        self._roles: dict[tuple[str | None, str | None], tuple[str, str | None]] = {}

    def _flush(self) -> Iterator[Result]:
        if self.current is not None:
            b, self.current = self.current, None
            self.done[b.id] = b.line
            yield from self._roleless(b)
            yield finish(b, self.path, self.fmt, self.opts, sort=self.sort)

    def _roleless(self, b: Builder) -> Iterator[ReadError]:
        """A conversation in which only SOME turns lack a role and speaker: those turns are
        errors (a conversation without any is undiarised and read as such by ``finish``)."""
        bare = [t for t in b.turns if t.role == "unknown" and t.speaker is None]
        if bare and len(bare) < len(b.turns):
            n = self.names
            for t in bare:
                yield ReadError(self.path, t.line, f"message without {n['role']!r} or "
                                f"{n['speaker']!r} in a conversation whose other messages "
                                "have one", b.id)
            b.turns = [t for t in b.turns if not (t.role == "unknown" and t.speaker is None)]

    def _times(self, rec: Mapping[str, Any], line: int | None, cid: str | None,
               ) -> tuple[TimeValue, TimeValue, list[ReadError]]:
        names = self.names
        if names["start"] not in rec and names["ts"] not in rec and names["end"] not in rec:
            return None, None, []  # no times at all: the usual chat export
        errors: list[ReadError] = []
        out: list[TimeValue] = []
        for key, fallback in (("start", "ts"), ("end", None)):
            name = names[key]
            value = rec.get(name)
            # missing() first: pd.NA (nullable and Arrow dtypes) has no truth value
            if fallback is not None and (missing(value) or (type(value) is str and not value)):
                name = names[fallback]
                value = rec.get(name)
            try:
                out.append(parse_time(value))
            except ValueError:
                out.append(None)
                errors.append(ReadError(self.path, line, f"{name!r}: not a time: {value!r} "
                                        "(turn kept without it)", cid))
        return out[0], out[1], errors

    def turn(self, rec: Mapping[str, Any], line: int | None, cid: str | None,
             what: str = "message") -> tuple[RawTurn | None, list[ReadError]]:
        names = self.names
        text = _text_value(rec.get(names["text"]))
        if text is None:
            return None, [ReadError(self.path, line, f"{what} without {names['text']!r}", cid)]
        raw = (_text_value(rec.get(names["role"])), _text_value(rec.get(names["speaker"])))
        resolved = self._roles.get(raw)
        if resolved is None:  # a file uses few role/speaker labels: resolve each once
            resolved = self._roles[raw] = role_and_speaker(self.opts, *raw)
        role, speaker = resolved
        if self.opts.layout == "mono":
            role, speaker = "unknown", None
        elif role == "unknown" and speaker is None and self.opts.layout == "labelled":
            return None, [ReadError(self.path, line, f"{what} without {names['role']!r} or "
                                    f"{names['speaker']!r}", cid)]
        start, end, errors = self._times(rec, line, cid)
        order = rec.get(names["turn"])
        try:
            order_f = None if order is None or missing(order) or (
                type(order) is str and not order.strip()) else float(order)
        except (TypeError, ValueError):
            order_f = None
        return RawTurn(role, text, start, end, speaker, line, order_f), errors

    def add(self, rec: Any, line: int | None) -> Iterator[Result]:
        """One message or row."""
        if not isinstance(rec, Mapping):
            yield ReadError(self.path, line, f"expected an object, got {type(rec).__name__}")
            return
        names = self.names
        if names["turns"] in rec:
            yield from self.add_conversation(rec, line)
            return
        cid = id_text(rec.get(names["conversation_id"]))
        if cid is None:
            yield ReadError(self.path, line, f"message without {names['conversation_id']!r}")
            return
        if self.current is None or self.current.id != cid:
            yield from self._flush()
            if cid in self.done:
                first = self.done[cid]
                where = f" (first seen at line {first})" if first else ""
                yield ReadError(self.path, line, f"conversation {cid!r} reappears after other "
                                f"conversations{where}; its records must be contiguous", cid)
                return
            self.current = Builder(cid, line)
        b = self.current
        turn, errors = self.turn(rec, line, cid)
        yield from errors
        if turn is not None:
            b.turns.append(turn)
            for key, value in rec.items():
                if key not in self.known and key is not None:
                    b.meta(str(key), value)

    def add_conversation(self, obj: Mapping[str, Any], line: int | None) -> Iterator[Result]:
        """A whole conversation: ``{"id", "turns": [...], "metadata": {...}}``."""
        yield from self._flush()
        n = self.names
        cid = id_text(obj.get(n["id"])) or id_text(obj.get(n["conversation_id"]))
        if cid is None:
            yield ReadError(self.path, line, f"conversation without {n['id']!r}")
            return
        if cid in self.done:
            first = self.done[cid]
            where = f" (first at line {first})" if first else ""
            yield ReadError(self.path, line, f"duplicate conversation id {cid!r}{where}", cid)
            return
        turns = obj.get(n["turns"])
        if not isinstance(turns, list):
            yield ReadError(self.path, line, f"{n['turns']!r} is not a list", cid)
            self.done[cid] = line
            return
        b = Builder(cid, line)
        for i, t in enumerate(turns):
            if type(t) is not dict and not isinstance(t, Mapping):
                yield ReadError(self.path, line, f"turn {i}: expected an object", cid)
                continue
            turn, errors = self.turn(t, line, cid, what=f"turn {i}")
            yield from errors
            if turn is not None:
                b.turns.append(turn)
        yield from self._roleless(b)
        meta = obj.get(n["metadata"])
        if isinstance(meta, Mapping):
            for key, value in meta.items():
                b.meta(str(key), value)
        for key, value in obj.items():
            if key not in (n["id"], n["conversation_id"], n["turns"], n["metadata"]):
                b.meta(str(key), value)
        self.done[cid] = line
        yield finish(b, self.path, self.fmt, self.opts)

    def close(self) -> Iterator[Result]:
        yield from self._flush()
