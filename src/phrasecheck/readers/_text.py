"""Encoding detection and decoding of transcript files into text chunks and numbered lines.

A file is sniffed from its first 64 KB: a BOM decides (UTF-8-sig, UTF-16, UTF-32); NUL bytes
outside UTF-16 mean a binary file; strict UTF-8 on the sample (a multi-byte sequence cut by the
sample's end is allowed); otherwise charset-normalizer's best guess, with GB2312/GBK widened to
GB18030. Decoding never raises: undecodable bytes become a marker character that the line and
record readers turn into a ``ReadError`` for the line that holds them, so one bad byte costs one
line, not the file.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

SAMPLE_SIZE = 64 * 1024
CHUNK_CHARS = 64 * 1024
#: Longest line kept in memory; a longer line is reported and skipped without being held.
MAX_LINE_CHARS = 8 * 1024 * 1024
#: The default limit on the text of one conversation (and so on one line): a longer one is
#: reported, not scored, which bounds the memory one conversation can take (its findings
#: grow with its length). Raise it with ``max_chars=`` or ``--max-chars``.
MAX_CHARS = 1_000_000
#: The default limit on one part of an xlsx workbook once unpacked (openpyxl holds the
#: shared strings in memory): a 500 MB cell fits in a 514 KB file. ``--max-xlsx-mb``.
MAX_XLSX_BYTES = 128 * 1024 * 1024


def too_long(what: str, limit: int) -> str:
    """The reason for a text over a limit, and how to raise it."""
    return (f"{what} too long (more than {limit:,} characters; raise the limit with "
            f"--max-chars or max_chars=)")

#: Inserted by the decoder for undecodable bytes. A lone surrogate never comes out of a strict
#: decode, so it cannot be confused with real text.
BAD = "\udcfe"
_ERROR_HANDLER = "phrasecheck.readers.mark"
_registered = False

# charset-normalizer guesses that are trusted as they are; any other guess (it reads short
# GBK samples as Korean, Japanese or Thai) gives way to GB18030 when the sample decodes as
# GB18030 to Chinese text: this library reads Chinese transcripts.
_TRUSTED = {"gb18030", "big5", "big5hkscs", "cp950", "utf_8", "utf_16", "utf_16_le",
            "utf_16_be", "utf_32", "ascii"}
_WIDEN = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "hz": "gb18030"}
# control bytes that do not occur in text (tab, line ends, form feed and escape do)
_CONTROL_BYTES = bytes([*range(0, 9), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def _register() -> None:
    global _registered
    if not _registered:
        codecs.register_error(_ERROR_HANDLER, _mark)
        _registered = True


def _mark(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return BAD, exc.end
    raise exc


class DetectionError(Exception):
    """The file is not text, or no encoding fits; the message is the ReadError reason."""


@dataclass(frozen=True, slots=True)
class Detected:
    encoding: str
    how: str  # "bom", "utf-8", "detected", "given"


def _decodes(sample: bytes, encoding: str, complete: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=complete)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def detect_encoding(sample: bytes, complete: bool, given: str | None = None) -> Detected:
    """Choose the encoding of a file from its first bytes.

    ``complete`` says the sample is the whole file (so a cut multi-byte sequence at its end is an
    error, not an artefact of sampling). Raises :class:`DetectionError` for binary or
    undecodable content.
    """
    if given:
        try:
            codecs.lookup(given)
        except LookupError:
            raise DetectionError(f"unknown encoding {given!r}") from None
        return Detected(given, "given")
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return Detected("utf-32", "bom")
    if sample.startswith(codecs.BOM_UTF8):
        return Detected("utf-8-sig", "bom")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Detected("utf-16", "bom")
    if b"\x00" in sample:
        # UTF-16 without a BOM: NULs in every other byte and a clean decode.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        n = max(1, len(sample) // 2)
        for enc, zeros in (("utf-16-le", odd), ("utf-16-be", even)):
            if zeros > 0.3 * n and _decodes(sample[: len(sample) // 2 * 2], enc, complete):
                return Detected(enc, "detected")
        # a few NULs in text (a crashed writer, a pasted control character) cost the lines
        # that hold them (see bad_line_reason); many control bytes mean a binary file
        control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if control * 10 > len(sample) or (  # over 10 %, or over 1 % and not UTF-8
                control * 100 > len(sample) and not _decodes(sample, "utf-8", complete)):
            raise DetectionError("binary file, not text")
    if _decodes(sample, "utf-8", complete):
        return Detected("utf-8", "utf-8")
    if _mostly_utf8(sample):
        # a UTF-8 file with a few lines in another encoding (pasted, or appended by another
        # tool): read as UTF-8, so each bad line is reported and skipped, not the file
        return Detected("utf-8", "utf-8")
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    guess = None if best is None else _WIDEN.get(best.encoding, best.encoding)
    if guess != "gb18030" and _simplified_chinese(sample, complete):
        # short GBK samples are read as Big5 (好。-> 疑﹝) or even UTF-16 by
        # charset-normalizer; text whose every character is a GB2312 one when read as
        # GB18030 is simplified Chinese, and Big5 text almost never reads so
        guess = "gb18030"
    elif guess not in _TRUSTED and _looks_chinese(sample, complete):
        guess = "gb18030"
    if guess is None:
        raise DetectionError("cannot decode: not UTF-8 (with or without BOM), UTF-16 or GB18030, "
                             "and charset-normalizer found no fitting encoding")
    return Detected(guess, "detected")


def _mostly_utf8(sample: bytes) -> bool:
    """Most lines of the sample (the last, perhaps cut, aside) decode as UTF-8, and some of
    those hold non-ASCII text (a GBK file's lines of Chinese never do)."""
    lines = [line for line in sample.split(b"\n")[:-1] if line.strip()]
    good = wide = 0
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        good += 1
        wide += not line.isascii()
    return wide > 0 and good * 2 > len(lines)


def _simplified_chinese(sample: bytes, complete: bool) -> bool:
    """The sample decodes strictly as GB18030 and every non-ASCII character is in GB2312
    (the simplified characters and punctuation of everyday text)."""
    try:
        text = codecs.getincrementaldecoder("gb18030")("strict").decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    wide = "".join(c for c in text if ord(c) > 127)
    if not wide:
        return False
    try:
        wide.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _looks_chinese(sample: bytes, complete: bool) -> bool:
    """The sample decodes strictly as GB18030 and its non-ASCII text is nearly all CJK."""
    try:
        text = codecs.getincrementaldecoder("gb18030")("strict").decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    wide = [ord(c) for c in text if ord(c) > 127]
    cjk = sum(1 for o in wide if 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F
              or 0xFF00 <= o <= 0xFFEF or 0x2010 <= o <= 0x2027 or 0x3400 <= o <= 0x4DBF)
    return bool(wide) and cjk >= 0.9 * len(wide)


class TextSource:
    """Decoded text of one file or stream, as chunks or as numbered lines.

    ``encoding`` is what was used; undecodable bytes appear as :data:`BAD` in the text.
    """

    def __init__(self, stream: TextIO, encoding: str | None = None) -> None:
        self._stream = stream
        self.encoding = encoding

    @classmethod
    def open_binary(cls, raw: BinaryIO, encoding: str) -> TextSource:
        import io

        _register()
        wrapper = io.TextIOWrapper(raw, encoding=encoding, errors=_ERROR_HANDLER, newline="")
        return cls(wrapper, encoding)

    def close(self) -> None:
        self._stream.close()

    def chunks(self, size: int = CHUNK_CHARS) -> Iterator[str]:
        first = True
        while True:
            chunk = self._stream.read(size)
            if not chunk:
                return
            if first:
                # a BOM left by an explicit encoding= (e.g. utf-8 on a utf-8-sig file)
                chunk, first = chunk.removeprefix("\ufeff"), False
                if not chunk:
                    continue
            yield chunk

    def lines(self, max_chars: int = MAX_LINE_CHARS) -> Iterator[tuple[int, str | None]]:
        """Yield ``(line_number, text)`` without the line ending (``\\n``, ``\\r\\n`` or ``\\r``).

        A line longer than ``max_chars`` is yielded once as ``(line_number, None)`` and its
        text is dropped as it is read, so memory stays bounded.
        """
        lineno = 1
        parts: list[str] = []
        size = 0
        too_long = False
        pending_cr = False
        for chunk in self.chunks():
            if pending_cr and chunk.startswith("\n"):
                chunk = chunk[1:]
            pending_cr = False
            if "\r" in chunk:
                if chunk.endswith("\r"):
                    pending_cr = True
                chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
            start = 0
            while True:
                nl = chunk.find("\n", start)
                if nl < 0:
                    piece = chunk[start:]
                    if piece and not too_long:
                        size += len(piece)
                        if size > max_chars:
                            too_long, parts = True, []
                        else:
                            parts.append(piece)
                    break
                piece = chunk[start:nl]
                if too_long or size + len(piece) > max_chars:
                    yield lineno, None
                else:
                    yield lineno, "".join(parts) + piece if parts else piece
                lineno += 1
                parts, size, too_long = [], 0, False
                start = nl + 1
        if parts or too_long:
            yield lineno, None if too_long else "".join(parts)


def decode_error_reason(encoding: str | None) -> str:
    return f"cannot decode bytes as {encoding or 'text'} (undecodable bytes on this line)"


def bad_line_reason(line: str, encoding: str | None) -> str | None:
    """Why a decoded line cannot be used (undecodable bytes, a NUL byte), or None."""
    if BAD in line:
        return decode_error_reason(encoding)
    if "\x00" in line:
        return "NUL byte in this line (not text); line skipped"
    return None
