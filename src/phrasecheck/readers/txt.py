"""Plain-text transcripts: one conversation per file.

::

    # agent_id: 1024
    # domain: hotline
    [00:00:01] 坐席：您好，这里是12345热线，请问有什么可以帮您？
    [00:00:05] 市民: 我想问一下
    社保卡补办要带什么        <- no prefix: continues the previous turn
    说话人2：……               <- a speaker label, role inferred

The id is the file stem (a longer tail of the path when stems collide in one run, see
:func:`~phrasecheck.readers.inputs.txt_ids`), or a ``# id:`` header. A file whose lines have
no speaker prefix at all (undiarised ASR output: a whole call on one line, or a few) is read
as one mono-channel conversation (:mod:`phrasecheck.diarize`), unless the layout is
``labelled``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePath

from ..types import Conversation, ReadError
from ._common import Builder, Options, RawTurn, finish, parse_clock
from ._text import TextSource, bad_line_reason, too_long

#: Speaker labels that are not roles: diarisation output and anonymised parties.
SPEAKER_LABEL = re.compile(
    r"(?:说话人|发言人|讲话人|角色)\s*\d{1,3}|(?:speaker|spk)[\s_-]*\d{1,3}|[A-F]|[甲乙丙丁]",
    re.IGNORECASE)
_LINE = re.compile(
    r"^\s*(?:(?:\[(?P<bts>[^\]]{1,40})\]|【(?P<cts>[^】]{1,40})】"
    r"|(?P<ts>\d{1,3}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?))\s*)?"
    r"(?P<label>[^:：\s\[【][^:：]{0,23}?)\s*[:：]\s*(?P<text>.*)$")
_RANGE = re.compile(r"\s*(?:-->|->|-|–|—|~|～|至)\s*")
_HEADER = re.compile(r"^\s*#\s*(?P<key>[^:：]{1,40}?)\s*[:：]\s*(?P<value>.*?)\s*$")
_MAX_PREFIX_ERRORS = 10


def _times(stamp: str) -> tuple[float, float | None] | None:
    parts = _RANGE.split(stamp.strip(), maxsplit=1)
    start = parse_clock(parts[0])
    if start is None:
        return None
    end = parse_clock(parts[1]) if len(parts) > 1 else None
    return start, end


def parse_turn_line(line: str, opts: Options) -> RawTurn | None:
    """``[ts] LABEL: text`` -> a RawTurn (without line), or None if the line has no prefix."""
    m = _LINE.match(line)
    if m is None:
        return None
    label = m.group("label").strip()
    role = opts.role_of(label)
    if role is None:
        if not SPEAKER_LABEL.fullmatch(label):
            return None
        role = "unknown"
    start = end = None
    stamp = m.group("bts") or m.group("cts") or m.group("ts")
    if stamp is not None:
        times = _times(stamp)
        if times is None:
            return None
        start, end = times
    return RawTurn(role=role, text=m.group("text").strip(), start=start, end=end, speaker=label)


def read_txt(source: TextSource, path: str, opts: Options,
             default_id: str | None = None) -> Iterator[Conversation | ReadError]:
    """One conversation per file. Lines with a speaker prefix are turns; a line without one
    continues the turn before it. A file with no prefix at all is an undiarised transcript
    (layout ``auto`` or ``mono``): its lines are split into turns and roles are inferred."""
    builder = Builder(id=default_id or PurePath(path).stem)
    seen_any = False
    in_header = True
    mono = opts.layout == "mono"
    # lines without a prefix before the first turn: an undiarised transcript if no turn
    # ever comes (layout auto), else errors; held up to the conversation limit only
    loose: list[RawTurn] = []
    loose_chars = 0
    overflow: int | None = None  # the line at which the loose lines outgrew max_chars
    current: RawTurn | None = None
    for lineno, line in source.lines(opts.max_chars):
        if line is None:
            seen_any = True
            yield ReadError(path, lineno, too_long("line", opts.max_chars) + "; skipped",
                            builder.id)
            continue
        if not line.strip():
            continue
        seen_any = True
        bad = bad_line_reason(line, source.encoding)
        if bad is not None:
            yield ReadError(path, lineno, bad, builder.id)
            continue
        if in_header and line.lstrip().startswith("#"):
            h = _HEADER.match(line)
            if h:
                key = h.group("key").strip().lower()
                if key in ("id", "conversation_id"):
                    builder.id = h.group("value") or builder.id
                else:
                    builder.meta(key, h.group("value"))
            continue
        in_header = False
        turn = None if mono else parse_turn_line(line, opts)
        if turn is not None:
            if loose or overflow is not None:
                yield from _prefix_errors(path, loose, builder.id)
                loose, overflow = [], None
            turn.line = lineno
            builder.turns.append(turn)
            current = turn
        elif current is not None:
            current.text = f"{current.text}\n{line.strip()}" if current.text else line.strip()
        elif overflow is None:
            loose_chars += len(line)
            if loose_chars > opts.max_chars:  # keep memory bounded: stop holding the text
                overflow, loose = lineno, loose[:_MAX_PREFIX_ERRORS]
            else:
                loose.append(RawTurn(role="unknown", text=line.strip(), line=lineno))
    if overflow is not None and not builder.turns:
        yield ReadError(path, overflow, too_long("undiarised transcript", opts.max_chars)
                        + "; not scored", builder.id)
        return
    if loose:
        if opts.layout == "labelled":
            yield from _prefix_errors(path, loose, builder.id)
        else:
            builder.turns = loose
    if not seen_any:
        yield ReadError(path, None, "empty file", builder.id)
        return
    yield finish(builder, path, "txt", opts)


def _prefix_errors(path: str, lines: list[RawTurn], cid: str) -> Iterator[ReadError]:
    for t in lines[:_MAX_PREFIX_ERRORS]:
        yield ReadError(path, t.line, "no speaker prefix", cid)
    if len(lines) > _MAX_PREFIX_ERRORS:
        yield ReadError(path, None, f"{len(lines) - _MAX_PREFIX_ERRORS} more lines without a "
                        "speaker prefix before the first turn (not listed)", cid)
