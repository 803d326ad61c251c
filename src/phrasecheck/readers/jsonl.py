"""JSON Lines: one message per line (messages of a conversation contiguous) or one whole
conversation per line (``{"id", "turns": [...], "metadata": {...}}``); both may be mixed."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ..types import Conversation, ReadError
from ._common import Options, Records
from ._text import TextSource, bad_line_reason, too_long


def read_jsonl(source: TextSource, path: str, opts: Options,
               fmt: str = "jsonl") -> Iterator[Conversation | ReadError]:
    records = Records(path, fmt, opts)
    seen_any = False
    for lineno, line in source.lines(opts.max_chars):
        if line is None:
            seen_any = True
            yield ReadError(path, lineno, too_long("line", opts.max_chars) + "; skipped")
            continue
        if not line.strip():
            continue
        seen_any = True
        bad = bad_line_reason(line, source.encoding)
        if bad is not None:
            yield ReadError(path, lineno, bad)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield ReadError(path, lineno, f"malformed JSON: {e.msg} (column {e.colno})")
            continue
        except RecursionError:
            yield ReadError(path, lineno, "malformed JSON: nested too deeply")
            continue
        yield from records.add(obj, lineno)
    yield from records.close()
    if not seen_any:
        yield ReadError(path, None, "empty file")
    elif not records.done:  # every conversation produced, or refused, is in done
        yield ReadError(path, None, "no turns")
