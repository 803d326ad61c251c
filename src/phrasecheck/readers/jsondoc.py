"""JSON documents: one conversation object, an array of them, or ``{"conversations": [...]}``.

Arrays are streamed element by element with ``json.JSONDecoder.raw_decode`` over a rolling
buffer, so a large file is never held whole; an error names the line of the bad element.
After a malformed element the reader resynchronises on the next element that starts a line
at the same indentation (pretty-printed files); in a compact file the rest cannot be located
and is reported as not read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ..types import Conversation, ReadError
from ._common import Options, Records
from ._text import BAD, TextSource, decode_error_reason, too_long

_WRAPPED = re.compile(r'\{\s*"conversations"\s*:\s*\[')
_WS = " \t\r\n"
# Errors that appear when an element is merely cut by the end of the buffer.
_MARGIN = 16
#: Largest single element (characters) the reader will buffer.
MAX_ELEMENT_CHARS = 256 * 1024 * 1024


class _Buffer:
    def __init__(self, source: TextSource) -> None:
        self._chunks = source.chunks()
        self.text = ""
        self.pos = 0
        self.base_line = 1  # line number of text[0]
        self.starts_line = True  # text[0] is at the start of a line
        self.eof = False
        self._want = 64 * 1024

    def _drop_consumed(self) -> None:
        nl = self.text.rfind("\n", 0, self.pos)
        cut = nl + 1 if nl >= 0 and self.pos - nl < 4096 else self.pos
        if cut == 0:
            return
        self.starts_line = self.text[cut - 1] == "\n"
        self.base_line += self.text.count("\n", 0, cut)
        self.text = self.text[cut:]
        self.pos -= cut

    def more(self) -> bool:
        """Read more text (doubling the amount each time); False at end of input."""
        if self.eof:
            return False
        self._drop_consumed()
        got: list[str] = []
        size = 0
        for chunk in self._chunks:
            got.append(chunk)
            size += len(chunk)
            if size >= self._want:
                break
        else:
            self.eof = True
        if got:
            self.text += "".join(got)
        if size >= self._want:
            self._want = min(self._want * 2, 64 * 1024 * 1024)
        return bool(got)

    def skip_ws(self) -> str | None:
        """Skip whitespace; the next character, or None at end of input."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return None

    def line_at(self, pos: int) -> int:
        return self.base_line + self.text.count("\n", 0, pos)

    def compact(self) -> None:
        if self.pos > 1024 * 1024 and self.pos > len(self.text) // 2:
            self._drop_consumed()


_decoder = json.JSONDecoder()


def _decode_at(buf: _Buffer, limit: int = MAX_ELEMENT_CHARS
               ) -> tuple[object, int] | json.JSONDecodeError:
    """Decode the value at ``buf.pos``, reading more until it is complete or surely broken
    (or longer than ``limit`` characters)."""
    while True:
        try:
            value, end = _decoder.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as e:
            cut = e.msg.startswith("Unterminated string") or e.pos >= len(buf.text) - _MARGIN
            if cut and len(buf.text) - buf.pos >= limit:
                return json.JSONDecodeError(too_long("JSON element", limit), buf.text,
                                            buf.pos)
            if cut and buf.more():
                continue
            return e
        except RecursionError:
            return json.JSONDecodeError("nested too deeply", buf.text, buf.pos)
        if end >= len(buf.text.rstrip(_WS)) and not buf.eof and buf.more():
            continue  # a number or literal might continue past the buffer
        return value, end


def _resync(buf: _Buffer, start: int) -> bool:
    """After a bad element at ``start``, move to the next element at the same indentation
    (or the array's closing bracket at a smaller one). False if there is none to find."""
    ls = buf.text.rfind("\n", 0, start) + 1
    indent = buf.text[ls:start]
    if indent.strip(" \t") or (ls == 0 and not buf.starts_line):
        return False
    close = rf"|\n[ \t]{{0,{len(indent) - 1}}}\]" if indent else ""
    pattern = re.compile(r"\n" + re.escape(indent) + r"\{" + close)
    buf.pos = start + 1
    while True:
        m = pattern.search(buf.text, buf.pos)
        if m is not None:
            buf.pos = m.end() - 1
            return True
        buf.pos = max(buf.pos, len(buf.text) - len(indent) - 2)
        if not buf.more():
            buf.pos = len(buf.text)
            return False


def read_json(source: TextSource, path: str, opts: Options) -> Iterator[Conversation | ReadError]:
    buf = _Buffer(source)
    records = Records(path, "json", opts)
    # an element (a message, or a conversation) holds its text and some JSON around it
    limit = min(MAX_ELEMENT_CHARS, 4 * opts.max_chars + 65536)
    first = buf.skip_ws()
    if first is None:
        yield ReadError(path, None, "empty file")
        return
    while len(buf.text) - buf.pos < 64 and buf.more():
        pass
    wrapped = _WRAPPED.match(buf.text, buf.pos) if first == "{" else None
    if first == "{" and wrapped is None:
        result = _decode_at(buf, limit)
        start = buf.pos
        if isinstance(result, json.JSONDecodeError):
            yield _json_error(buf, result, path)
            return
        value, buf.pos = result
        bad = BAD in buf.text[start:buf.pos]
        if bad:
            yield ReadError(path, buf.line_at(start), decode_error_reason(source.encoding))
            return
        yield from _one(records, value, buf.line_at(start))
        yield from _trailing(buf, path)
        return
    if first != "[" and wrapped is None:
        yield ReadError(path, buf.line_at(buf.pos),
                        f"not a JSON conversation file (starts with {first!r}, expected {{ or [)")
        return
    buf.pos = wrapped.end() if wrapped is not None else buf.pos + 1
    produced = 0
    while True:
        c = buf.skip_ws()
        if c is None:
            yield ReadError(path, buf.line_at(buf.pos), "truncated JSON: the array is not closed")
            break
        if c == "]":
            buf.pos += 1
            if wrapped is not None:
                c = buf.skip_ws()
                if c == "}":
                    buf.pos += 1
                elif c is None:
                    yield ReadError(path, buf.line_at(buf.pos), "truncated JSON: missing '}'")
                    break
                # other keys after "conversations" are ignored
                else:
                    break
            yield from _trailing(buf, path)
            break
        start = buf.pos
        line = buf.line_at(start)
        result = _decode_at(buf, limit)
        start = buf.pos  # reading more may have moved the buffer
        if isinstance(result, json.JSONDecodeError):
            error = _json_error(buf, result, path, line)
            yield error
            if error.reason.startswith("truncated"):
                break
            if not _resync(buf, start):
                yield ReadError(path, line, "rest of the file not read: cannot find the next "
                                f"element after the malformed one ({produced} read before)")
                break
            continue
        value, end = result
        if BAD in buf.text[start:end]:
            yield ReadError(path, line, decode_error_reason(source.encoding))
        else:
            for r in records.add(value, line):
                produced += isinstance(r, Conversation)
                yield r
        buf.pos = end
        c = buf.skip_ws()
        if c == ",":
            buf.pos += 1
        elif c not in ("]", None):
            yield ReadError(path, buf.line_at(buf.pos),
                            f"malformed JSON: expected ',' or ']' after element, got {c!r}; "
                            "rest of the file not read")
            break
        buf.compact()
    yield from records.close()
    if not records.done:  # every conversation produced, or refused, is in done
        yield ReadError(path, None, "no turns")


def _one(records: Records, value: object, line: int) -> Iterator[Conversation | ReadError]:
    items = value.get("conversations") if isinstance(value, dict) else None
    if isinstance(items, list):
        for item in items:
            yield from records.add(item, line)
    else:
        yield from records.add(value, line)
    yield from records.close()


def _trailing(buf: _Buffer, path: str) -> Iterator[ReadError]:
    c = buf.skip_ws()
    if c is not None:
        yield ReadError(path, buf.line_at(buf.pos), "extra data after the JSON document; ignored")


def _json_error(buf: _Buffer, e: json.JSONDecodeError, path: str,
                line: int | None = None) -> ReadError:
    where = line if line is not None else buf.line_at(buf.pos)
    if e.msg.startswith("JSON element too long"):
        return ReadError(path, where, e.msg)
    at = buf.line_at(e.pos)
    truncated = buf.eof and (e.pos >= len(buf.text.rstrip(_WS))
                             or e.msg.startswith("Unterminated string"))
    what = "truncated JSON" if truncated else "malformed JSON"
    detail = f"{e.msg}" + (f" at line {at}" if at != where else "")
    return ReadError(path, where, f"{what}: {detail}")
