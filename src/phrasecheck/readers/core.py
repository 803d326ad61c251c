"""Entry points: read one file, a stream, or a whole batch of inputs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TextIO

from .._unicode import display_path
from ..types import Conversation, ReadError
from ._common import Options
from ._text import SAMPLE_SIZE, DetectionError, TextSource, detect_encoding
from .inputs import DEFAULT_EXCLUDE, FORMATS, PathInput, as_input_list, expand_inputs, txt_ids
from .jsondoc import read_json
from .jsonl import read_jsonl
from .tabular import read_csv, read_xlsx
from .txt import read_txt

Result = Conversation | ReadError
_TEXT_READERS: dict[str, Callable[[TextSource, str, Options], Iterator[Result]]] = {
    "txt": read_txt, "jsonl": read_jsonl, "json": read_json, "csv": read_csv,
}
READ_FORMATS = ("txt", "jsonl", "json", "csv", "xlsx")


def _check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in READ_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (available: {', '.join(READ_FORMATS)})")


def _sniff(text: str) -> str:
    """Format of a file whose suffix says nothing, from its first characters."""
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        first = head.split("\n", 1)[0].rstrip()
        return "jsonl" if first.endswith("}") else "json"
    return "txt"


def _read_path(path: PathInput, opts: Options, fmt: str | None = None,
               default_id: str | None = None) -> Iterator[Result]:
    if os.fspath(path) == "-":
        yield from _read_text_stream(sys.stdin, "<stdin>", fmt or "jsonl", opts)
        return
    p = Path(os.fspath(path))
    # the name errors, ids and metadata show: a file name that is not UTF-8 (common after
    # unzipping an archive made on a GBK system) is shown with \xNN escapes and opened as is
    name = display_path(path)
    fmt = fmt or FORMATS.get(p.suffix.lower())
    if fmt == "xlsx":
        if not p.is_file():
            yield ReadError(name, None, "no such file" if not p.exists() else "not a file")
            return
        yield from read_xlsx(name, opts, open_path=os.fspath(p))
        return
    try:
        raw = open(p, "rb")  # noqa: SIM115 - closed below, through the text wrapper
    except OSError as e:
        yield ReadError(name, None, f"cannot open: {e.strerror or e}")
        return
    try:
        sample = raw.read(SAMPLE_SIZE)
        complete = len(sample) < SAMPLE_SIZE or not raw.peek(1)
    except OSError as e:
        raw.close()
        yield ReadError(name, None, f"cannot read: {e.strerror or e}")
        return
    if not sample.strip():
        raw.close()
        yield ReadError(name, None, "empty file")
        return
    try:
        detected = detect_encoding(sample, complete, opts.encoding)
    except DetectionError as e:
        raw.close()
        yield ReadError(name, None, str(e))
        return
    if fmt is None:
        fmt = _sniff(sample.decode(detected.encoding, errors="replace"))
    raw.seek(0)
    source = TextSource.open_binary(raw, detected.encoding)
    try:
        if fmt == "txt" and default_id is not None:
            yield from read_txt(source, name, opts, default_id=default_id)
        else:
            yield from _TEXT_READERS[fmt](source, name, opts)
    except OSError as e:
        yield ReadError(name, None, f"cannot read: {e.strerror or e}")
    finally:
        source.close()


def _read_text_stream(stream: TextIO, name: str, fmt: str, opts: Options) -> Iterator[Result]:
    if fmt == "xlsx":
        raise ValueError("xlsx cannot be read from a text stream; pass a path")
    yield from _TEXT_READERS[fmt](TextSource(stream, getattr(stream, "encoding", None)), name, opts)


def read_file(path: PathInput, *, encoding: str | None = None,
              role_map: Mapping[str, str] | None = None, fields: Mapping[str, str] | None = None,
              speaker_roles: Mapping[str, str] | None = None, infer_roles: bool = True,
              format: str | None = None, default_id: str | None = None,
              max_chars: int | None = None, max_xlsx_bytes: int | None = None,
              layout: str = "auto"
              ) -> Iterator[Conversation | ReadError]:
    """Read one file: conversations and ReadErrors, in file order. Never raises for bad data.

    ``format`` (txt, jsonl, json, csv, xlsx) overrides the one the suffix implies; an unknown
    suffix is sniffed (``[`` -> json, ``{`` -> jsonl, else txt). ``default_id`` is the id of
    a txt transcript without an ``# id:`` header (default: the file stem). ``max_chars``
    limits the text of one conversation (and of one line or cell; default 1,000,000
    characters), ``max_xlsx_bytes`` one unpacked part of an xlsx workbook (default 128 MB):
    what is over a limit is reported, not read. ``layout`` (``auto``, ``mono``,
    ``labelled``) says whether speakers are labelled: ``auto`` reads a transcript without
    any speaker label (undiarised ASR output) as mono-channel and infers who said what
    (:mod:`phrasecheck.diarize`).
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    _check_format(format)
    opts = Options.build(encoding=encoding, role_map=role_map, fields=fields,
                         speaker_roles=speaker_roles, infer_roles=infer_roles,
                         max_chars=max_chars, max_xlsx_bytes=max_xlsx_bytes, layout=layout)
    return _read_path(path, opts, format, default_id)


def read_stream(stream: TextIO, *, name: str = "<stdin>", format: str = "jsonl",
                encoding: str | None = None, role_map: Mapping[str, str] | None = None,
                fields: Mapping[str, str] | None = None,
                speaker_roles: Mapping[str, str] | None = None,
                infer_roles: bool = True, max_chars: int | None = None,
                max_xlsx_bytes: int | None = None, layout: str = "auto"
                ) -> Iterator[Conversation | ReadError]:
    """Read an open text stream (``-``: JSON Lines on stdin by default).

    ``encoding`` and ``max_xlsx_bytes`` are accepted for symmetry and ignored: the stream
    is already text, and not a workbook.
    """
    _check_format(format)
    if format == "xlsx":
        raise ValueError("xlsx cannot be read from a text stream; pass a path")
    opts = Options.build(role_map=role_map, fields=fields, speaker_roles=speaker_roles,
                         infer_roles=infer_roles, max_chars=max_chars, layout=layout)
    return _read_text_stream(stream, name, format, opts)


class ConversationReader(Iterator[Conversation]):
    """Streams the conversations of a batch of inputs, one file at a time.

    ``errors`` collects every ReadError seen so far (each is also passed to ``on_error``);
    ``files`` lists the files opened so far; ``unmatched`` the inputs that matched no file
    (each also reported as a ReadError). Use as a context manager, or call :meth:`close`,
    to release the open file when stopping early.
    """

    def __init__(self, inputs: PathInput | Iterable[PathInput], *,
                 on_error: Callable[[ReadError], None] | None = None,
                 options: Options | None = None,
                 exclude: Sequence[str] = DEFAULT_EXCLUDE) -> None:
        if on_error is not None and not callable(on_error):
            raise TypeError("on_error must be callable")
        self._inputs = as_input_list(inputs)
        self._on_error = on_error
        self._options = options or Options()
        self._exclude = exclude
        self.errors: list[ReadError] = []
        self.files: list[str] = []
        self.unmatched: list[str] = []
        self._gen = self._run()

    def _error(self, error: ReadError) -> None:
        self.errors.append(error)
        if self._on_error is not None:
            self._on_error(error)

    def _run(self) -> Generator[Conversation, None, None]:
        files, self.unmatched = expand_inputs(self._inputs, self._exclude)
        ids = txt_ids(files)  # txt files whose stems collide get distinct ids
        for item in self.unmatched:
            reason = "no files match" if any(c in item for c in "*?[") else (
                "no transcript files in directory" if Path(item).is_dir() else "no such file")
            self._error(ReadError(item, None, reason))
        for f in files:
            self.files.append(display_path(f))
            for result in _read_path(f, self._options, default_id=ids.get(os.fspath(f))):
                if isinstance(result, ReadError):
                    self._error(result)
                else:
                    yield result

    def __iter__(self) -> ConversationReader:
        return self

    def __next__(self) -> Conversation:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> ConversationReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_conversations(inputs: PathInput | Iterable[PathInput], *,
                       on_error: Callable[[ReadError], None] | None = None,
                       encoding: str | None = None, role_map: Mapping[str, str] | None = None,
                       fields: Mapping[str, str] | None = None,
                       speaker_roles: Mapping[str, str] | None = None,
                       infer_roles: bool = True, layout: str = "auto",
                       exclude: Sequence[str] = DEFAULT_EXCLUDE, max_chars: int | None = None,
                       max_xlsx_bytes: int | None = None) -> ConversationReader:
    """Stream the conversations in files, directories and globs (``-`` = JSONL on stdin).

    Bad data never raises: each problem becomes a ReadError, passed to ``on_error`` and kept in
    the reader's ``errors``; reading goes on. Options apply to every file; see ``read_file``.
    """
    opts = Options.build(encoding=encoding, role_map=role_map, fields=fields,
                         speaker_roles=speaker_roles, infer_roles=infer_roles,
                         max_chars=max_chars, max_xlsx_bytes=max_xlsx_bytes, layout=layout)
    return ConversationReader(inputs, on_error=on_error, options=opts, exclude=exclude)
