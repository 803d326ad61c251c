"""Tables with one row per turn: CSV (streamed with the csv module) and XLSX (openpyxl,
read-only). Default columns ``conversation_id, role, text`` plus optional ``turn, start, end,
speaker`` (``ts`` is accepted for ``start``); other columns become conversation metadata, taken
from the conversation's first row. Rows of one conversation are contiguous. Line and row numbers
in errors are those a spreadsheet shows (header = 1)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..types import Conversation, ReadError
from ._common import Options, Records
from ._text import BAD, TextSource, decode_error_reason

Result = Conversation | ReadError


def _header_problem(header: Sequence[str], opts: Options) -> str | None:
    n = opts.name
    missing = [n(k) for k in ("conversation_id", "text") if n(k) not in header]
    if n("role") not in header and n("speaker") not in header:
        missing.append(f"{n('role')} (or {n('speaker')})")
    if missing:
        shown = ", ".join(repr(h) for h in header if h) or "none"
        return f"missing column {', '.join(repr(m) for m in missing)} (columns: {shown})"
    return None


Row = tuple[int, Sequence[Any]]


def _rows(rows: Iterable[Row | ReadError], path: str, fmt: str,
          opts: Options, encoding: str | None = None) -> Iterator[Result]:
    header: list[str] | None = None
    records = Records(path, fmt, opts, sort=True)
    for item in rows:
        if isinstance(item, ReadError):
            yield item
            continue
        lineno, row = item
        cells = ["" if v is None else v for v in row]
        if not any(str(v).strip() for v in cells):
            continue
        if header is None:
            header = [str(v).strip() for v in cells]
            problem = _header_problem(header, opts)
            if problem is not None:
                yield ReadError(path, lineno, problem)
                return
            continue
        if any(isinstance(v, str) and BAD in v for v in cells):
            yield ReadError(path, lineno, decode_error_reason(encoding))
            continue
        rec = {h: (v.strip() if isinstance(v, str) else v)
               for h, v in zip(header, cells, strict=False) if h}
        yield from records.add(rec, lineno)
    yield from records.close()
    if header is None:
        yield ReadError(path, None, "empty file")
    elif not records.done:  # every conversation produced, or refused, is in done
        yield ReadError(path, None, "no turns")


def read_csv(source: TextSource, path: str, opts: Options) -> Iterator[Result]:
    position = [0]
    too_long: list[int] = []

    def feed() -> Iterator[str]:
        for lineno, line in source.lines():
            position[0] = lineno
            if line is None:
                too_long.append(lineno)
                yield "\n"
            else:
                yield line + "\n"

    def rows() -> Iterator[Row | ReadError]:
        reader = csv.reader(feed())
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield ReadError(path, start, f"malformed CSV: {e}")
                row = []
            while too_long:
                yield ReadError(path, too_long.pop(0), "line too long; skipped")
            yield start, row
            start = position[0] + 1

    yield from _rows(rows(), path, "csv", opts, source.encoding)


def read_xlsx(path: str, opts: Options, open_path: str | None = None) -> Iterator[Result]:
    """Rows of an xlsx workbook; ``path`` names it in errors and metadata, ``open_path``
    (default: ``path``) is the name to open."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(open_path or path, read_only=True, data_only=True)
    except Exception as e:  # zipfile.BadZipFile, KeyError, InvalidFileException, OSError ...
        yield ReadError(path, None, f"not a readable xlsx workbook: {type(e).__name__}: {e}")
        return
    try:
        names = wb.sheetnames
        if not names:
            yield ReadError(path, None, "empty file")
            return
        ws = wb["turns"] if "turns" in names else wb[names[0]]

        def rows() -> Iterator[Row | ReadError]:
            it = ws.iter_rows(values_only=True)
            number = 0
            while True:
                try:
                    row = next(it)
                except StopIteration:
                    return
                except Exception as e:  # a corrupt sheet part surfaces while iterating
                    yield ReadError(path, number + 1,
                                    f"cannot read the sheet further: {type(e).__name__}: {e}")
                    return
                number += 1
                yield number, row

        yield from _rows(rows(), path, "xlsx", opts)
    finally:
        wb.close()
