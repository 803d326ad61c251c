"""Tables with one row per turn: CSV (streamed with the csv module) and XLSX (openpyxl,
read-only). Default columns ``conversation_id, role, text`` plus optional ``turn, start, end,
speaker`` (``ts`` is accepted for ``start``); other columns become conversation metadata, taken
from the conversation's first row. Rows of one conversation are contiguous. Line and row numbers
in errors are those a spreadsheet shows (header = 1)."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..types import Conversation, ReadError
from ._common import Options, Records
from ._text import TextSource, bad_line_reason
from ._text import too_long as _too_long

Result = Conversation | ReadError


def _header_problem(header: Sequence[str], opts: Options) -> str | None:
    n = opts.name
    missing = [n(k) for k in ("conversation_id", "text") if n(k) not in header]
    if n("role") not in header and n("speaker") not in header and opts.layout == "labelled":
        # without either column the rows are an undiarised transcript (layout auto / mono)
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
        bad = next((r for v in cells if isinstance(v, str)
                    for r in (bad_line_reason(v, encoding),) if r is not None), None)
        if bad is not None:
            yield ReadError(path, lineno, bad)
            continue
        if any(isinstance(v, str) and len(v) > opts.max_chars for v in cells):
            yield ReadError(path, lineno, _too_long("cell", opts.max_chars) + "; row skipped")
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
    lines = source.lines(opts.max_chars)
    pending: deque[tuple[int, str | None]] = deque()  # lines to read again
    taken: list[tuple[int, str | None]] = []  # the physical lines of the current record
    long_line = _too_long("line", opts.max_chars) + "; skipped"
    too_long: list[int] = []

    def feed() -> Iterator[str]:
        while True:
            if pending:
                lineno, line = pending.popleft()
            else:
                try:
                    lineno, line = next(lines)
                except StopIteration:
                    return
            taken.append((lineno, line))
            if line is None:
                too_long.append(lineno)
                yield "\n"
            else:
                yield line + "\n"

    def rows() -> Iterator[Row | ReadError]:
        reader = csv.reader(feed())
        looks_like_row: Callable[[str], bool] | None = None
        while True:
            taken.clear()
            try:
                row = next(reader)
                error = None
            except StopIteration:
                return
            except csv.Error as e:
                row, error = [], f"malformed CSV: {e}"
                if "field larger than field limit" in str(e):
                    error += (" (a cell holds at most csv.field_size_limit() characters; "
                              "give long transcripts as JSONL or txt)")
            if not taken:
                return
            start = taken[0][0]
            spilled = [(n, t) for n, t in taken[1:]]
            if error is not None or (looks_like_row is not None and len(taken) > 1 and any(
                    t is not None and looks_like_row(t) for _, t in spilled)):
                # a quote opened on this line and never closed (or closed far away) takes
                # the following rows into one field: report this line, read the rest again
                what = error or ("unbalanced quote: the quoted field opened on this line "
                                 f"runs on over {len(spilled)} line(s) that look like rows "
                                 "of their own")
                yield ReadError(path, start, f"{what}; this row is skipped, the lines after "
                                "it are read again")
                pending.extendleft(reversed(spilled))
                too_long[:] = [n for n in too_long if n == start]
                while too_long:
                    yield ReadError(path, too_long.pop(0), long_line)
                reader = csv.reader(feed())
                continue
            while too_long:
                yield ReadError(path, too_long.pop(0), long_line)
            if looks_like_row is None and any(str(v).strip() for v in row):
                looks_like_row = _row_test([str(v).strip() for v in row], opts)
            yield start, row

    yield from _rows(rows(), path, "csv", opts, source.encoding)


def _row_test(header: Sequence[str], opts: Options) -> Callable[[str], bool]:
    """Whether a line, parsed alone, is a row of this table: as many cells as the header,
    an id, and a role the aliases know (or a speaker label)."""
    n = opts.name
    width = len(header)
    cid = header.index(n("conversation_id")) if n("conversation_id") in header else None
    role = header.index(n("role")) if n("role") in header else None
    speaker = header.index(n("speaker")) if n("speaker") in header else None

    def test(line: str) -> bool:
        try:
            cells = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            return False
        if len(cells) != width or (cid is not None and not cells[cid].strip()):
            return False
        if role is not None and opts.role_of(cells[role]) is not None:
            return True
        return speaker is not None and bool(cells[speaker].strip())

    return test


def _oversized_part(path: str, limit: int) -> str | None:
    """Why a workbook is refused before openpyxl loads it (a part that unpacks to more than
    ``limit`` bytes: openpyxl holds the shared strings in memory), or None."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            parts = [(i.filename, i.file_size) for i in z.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # openpyxl says what is wrong with it
    for name, size in parts:
        if size > limit:
            return (f"{name} unpacks to {size / 2**20:,.0f} MB, more than the limit of "
                    f"{limit / 2**20:,.0f} MB for one part of a workbook (raise it with "
                    "--max-xlsx-mb or max_xlsx_bytes=, or save the sheet as CSV)")
    return None


def read_xlsx(path: str, opts: Options, open_path: str | None = None) -> Iterator[Result]:
    """Rows of an xlsx workbook; ``path`` names it in errors and metadata, ``open_path``
    (default: ``path``) is the name to open."""
    import openpyxl

    big = _oversized_part(open_path or path, opts.max_xlsx_bytes)
    if big is not None:
        yield ReadError(path, None, big)
        return
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
        # read-only mode trusts the sheet's <dimension> element, which other writers leave
        # stale: with it, a sheet of 10 conversations read as 1 (and no error)
        reset = getattr(ws, "reset_dimensions", None)
        if reset is not None:
            reset()

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
