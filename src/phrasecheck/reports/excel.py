"""The Excel report: sheets Scores, Findings, Errors and Summary, ready for a QA lead to sort.

Every sheet has a frozen, styled header row, an autofilter over its data and column widths
fitted to a sample of the contents. Rows of conversations that failed (vetoed, or scored
below ``fail_under``) are shaded red; each finding's matched text is shaded by kind, and the
``turn_text`` cell (or the ``context`` cell, a window of the turn starting at
``context_start``, as batch runs write) shows the match in coloured bold (rich text), so the
finding can be read in its context without leaving the sheet.

The workbook is written in openpyxl's write-only (streaming) mode whatever its size: one
code path, memory that does not grow with the number of rows, and the same features
(frozen panes, filters, widths, styles, rich text). Strings that start with ``=`` are stored
as text, never as formulas: transcripts are untrusted input.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._xml import xml_safe
from ._atomic import atomic_write
from .redact import redact as redact_text

if TYPE_CHECKING:
    import pandas as pd
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

__all__ = ["MAX_CELL_CHARS", "RowTable", "write_xlsx_report"]

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
MAX_ROWS = 1_048_576  # Excel's limit for one sheet, header included
_WIDTH_SAMPLE = 500
_MIN_WIDTH, _MAX_WIDTH = 6, 60

# fills (light) and fonts (dark) per finding kind; "classifier" is a finding with source
# classifier (a whole-turn verdict of the reply-tone model)
_KIND_COLOURS = {
    "banned": ("FFC7CE", "9C0006"),
    "required": ("C6EFCE", "006100"),
    "classifier": ("FCE4D6", "C65911"),
    "cue": ("DDEBF7", "1F4E79"),
}
_FAIL_FILL = "FFE5E5"
_VETO_FILL = "FFC7CE"
_HEADER_FILL = "305496"

_HEADERS_ZH = {
    "Summary": ("指标 (metric)", "值 (value)"),
}


def write_xlsx_report(
    path: str | os.PathLike[str],
    scores_df: pd.DataFrame | RowTable,
    findings_df: pd.DataFrame | RowTable,
    errors_df: pd.DataFrame | RowTable,
    summary: Mapping[str, Any] | pd.DataFrame,
    redact: bool = True,
    *,
    fail_under: float | None = 60.0,
) -> None:
    """Write the Excel report to ``path`` atomically.

    ``scores_df`` has one row per conversation (``score`` and ``vetoed`` columns are used for
    highlighting when present), ``findings_df`` one row per finding (``text``, ``kind``,
    ``source`` and, for rich-text context, ``turn_text``, ``start``, ``end``), ``errors_df``
    one row per read error. Any other columns are written as they are. ``summary`` is a
    mapping (written as metric/value rows; nested mappings are flattened) or a DataFrame.
    Any of the three tables may be a :class:`RowTable` of streamed rows instead of a DataFrame.

    With ``redact=True`` personal data (see :mod:`phrasecheck.reports.redact`) is masked in
    every text cell; a finding's ``text`` is cut from the redacted ``turn_text`` when it has
    one, so both always agree.
    """
    from openpyxl import Workbook  # pandas only for DataFrames given in: RowTables need none

    wb = Workbook(write_only=True)
    notes: list[tuple[str, Any]] = []
    scores = RowTable.of(scores_df)
    _frame_sheet(wb.create_sheet("Scores"), scores, redact, notes,
                 row_style=_score_styler(scores.columns, fail_under))
    if redact and not isinstance(findings_df, RowTable):
        findings = RowTable.of(_redact_findings(findings_df))
        redact_findings = False  # already redacted, each text cut from its redacted turn
    else:
        findings = RowTable.of(findings_df)
        redact_findings = redact
    _frame_sheet(wb.create_sheet("Findings"), findings, redact_findings, notes,
                 row_style=_finding_styler(findings.columns))
    _frame_sheet(wb.create_sheet("Errors"), RowTable.of(errors_df), redact, notes)
    if isinstance(summary, Mapping):
        rows = list(_flatten(summary)) + notes
        summary_rows = RowTable(_HEADERS_ZH["Summary"], lambda: iter(rows))
    else:
        summary_rows = RowTable.of(summary)
    _frame_sheet(wb.create_sheet("Summary"), summary_rows, redact, [])
    with atomic_write(path, "wb") as fh:
        wb.save(fh)


# ------------------------------------------------------------------------------ sheets


class RowTable:
    """Rows streamed from a source rather than held in a DataFrame.

    ``rows`` is a zero-argument callable returning a fresh iterator of tuples (one value per
    column); it is called twice: once for a sample that sizes the columns, once to write.
    Batch runs use it so the workbook is written in memory that does not grow with the input.
    """

    def __init__(self, columns: Iterable[str], rows: Callable[[], Iterable[tuple[Any, ...]]]
                 ) -> None:
        self.columns = [str(c) for c in columns]
        self.rows = rows

    @classmethod
    def of(cls, data: pd.DataFrame | RowTable) -> RowTable:
        if isinstance(data, RowTable):
            return data
        return cls(data.columns, lambda: data.itertuples(index=False, name=None))

RowStyler = Any  # Callable[[tuple[Any, ...]], dict[int, dict[str, Any]]] | None


def _frame_sheet(ws: WriteOnlyWorksheet, table: RowTable, redact: bool,
                 notes: list[tuple[str, Any]], row_style: RowStyler = None) -> None:
    from itertools import islice

    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    columns = table.columns
    ncols = max(1, len(columns))
    limit = MAX_ROWS - 1
    # widths and frozen header must be set before the first row is streamed
    sample = list(islice(iter(table.rows()), _WIDTH_SAMPLE))
    for i, width in enumerate(_widths(sample, columns), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", start_color=_HEADER_FILL, end_color=_HEADER_FILL)
    header = []
    for name in columns:
        cell = WriteOnlyCell(ws, value=name)
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    ws.append(header)
    # one template cell per style: copying its style array is far cheaper than assigning
    # fill/font objects to every cell (openpyxl hashes them into its style tables each time)
    templates: dict[tuple[str | None, str | None], Any] = {}

    def styled(value: Any, fill: str | None, font: str | None) -> Any:
        key = (fill, font)
        tpl = templates.get(key)
        if tpl is None:
            tpl = WriteOnlyCell(ws)
            if fill is not None:
                tpl.fill = PatternFill("solid", start_color=fill, end_color=fill)
            if font is not None:
                tpl.font = Font(bold=True, color=font)
            templates[key] = tpl
        cell = WriteOnlyCell(ws, value=value)
        cell._style = copy.copy(tpl._style)
        return cell

    nrows = 0
    skipped = 0
    for row in table.rows():
        if nrows >= limit:
            skipped += 1
            continue
        nrows += 1
        styles = row_style(row) if row_style is not None else {}
        out: list[Any] = []
        for j, raw in enumerate(row):
            v = _cell_value(raw, redact)
            st = styles.get(j)
            if st is None and not (isinstance(v, str) and v.startswith("=")):
                out.append(v)
                continue
            st = st or {}
            if "rich" in st and isinstance(v, str):
                v = _rich(v, st["rich"])
            cell = styled(v, st.get("fill"), st.get("font"))
            if isinstance(v, str):
                cell.data_type = "s"  # never a formula
            out.append(cell)
        ws.append(out)
    if skipped:
        notes.append((f"{ws.title}: rows not shown (Excel holds {limit:,})", skipped))
    ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{nrows + 1}"


@functools.lru_cache(maxsize=32)
def _inline_font(colour: str) -> Any:
    from openpyxl.cell.text import InlineFont

    return InlineFont(b=True, color=colour)


def _rich(text: str, spans: list[tuple[int, int, str]]) -> Any:
    """``text`` as rich text with each ``(start, end, colour)`` span in coloured bold."""
    from openpyxl.cell.rich_text import CellRichText, TextBlock

    parts: list[Any] = []
    pos = 0
    for start, end, colour in sorted(spans):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        if start > pos:
            parts.append(text[pos:start])
        parts.append(TextBlock(_inline_font(colour), text[start:end]))
        pos = end
    if pos < len(text):
        parts.append(text[pos:])
    return CellRichText(parts) if any(not isinstance(p, str) for p in parts) else text


# ------------------------------------------------------------------------------ styling


def _col(columns: list[str], name: str) -> int | None:
    return columns.index(name) if name in columns else None


def _score_styler(columns: list[str], fail_under: float | None) -> RowStyler:
    i_score, i_veto = _col(columns, "score"), _col(columns, "vetoed")
    if i_score is None and i_veto is None:
        return None
    ncols = len(columns)

    def style(row: tuple[Any, ...]) -> dict[int, dict[str, Any]]:
        vetoed = i_veto is not None and _truthy(row[i_veto])
        score = _number(row[i_score]) if i_score is not None else None
        low = fail_under is not None and score is not None and score < fail_under
        if not (vetoed or low):
            return {}
        fill = _VETO_FILL if vetoed else _FAIL_FILL
        out: dict[int, dict[str, Any]] = {j: {"fill": fill} for j in range(ncols)}
        if i_score is not None:
            out[i_score] = {"fill": fill, "font": "C00000"}
        if i_veto is not None and vetoed:
            out[i_veto] = {"fill": fill, "font": "C00000"}
        return out

    return style


def _finding_kind(kind: Any, source: Any) -> str:
    if source == "classifier":
        return "classifier"
    return str(kind) if kind in _KIND_COLOURS else "cue"


def _finding_styler(columns: list[str]) -> RowStyler:
    i_text, i_kind, i_source = (_col(columns, "text"), _col(columns, "kind"),
                                _col(columns, "source"))
    i_turn, i_start, i_end = (_col(columns, "turn_text"), _col(columns, "start"),
                              _col(columns, "end"))
    # batch findings carry a window of the turn: context, starting at context_start
    i_ctx, i_cstart = _col(columns, "context"), _col(columns, "context_start")
    if i_turn is None and i_ctx is not None and i_cstart is not None:
        i_turn = i_ctx
    if i_text is None and i_turn is None:
        return None

    def style(row: tuple[Any, ...]) -> dict[int, dict[str, Any]]:
        kind = _finding_kind(row[i_kind] if i_kind is not None else None,
                             row[i_source] if i_source is not None else None)
        fill, font = _KIND_COLOURS[kind]
        out: dict[int, dict[str, Any]] = {}
        if i_text is not None:
            out[i_text] = {"fill": fill, "font": font}
        if i_turn is not None and i_start is not None and i_end is not None:
            start, end = _number(row[i_start]), _number(row[i_end])
            shift = _number(row[i_cstart]) if i_turn == i_ctx and i_cstart is not None else 0
            if (start is not None and end is not None and shift is not None
                    and isinstance(row[i_turn], str)):
                out[i_turn] = {"rich": [(int(start - shift), int(end - shift), font)]}
        return out

    return style


# ------------------------------------------------------------------------------ values


def _redact_findings(df: pd.DataFrame) -> pd.DataFrame:
    """Redact every text cell; cut ``text`` from the redacted ``turn_text`` when it lines up."""
    out = df.copy()
    for c in out.columns:
        out[c] = [redact_text(v) if isinstance(v, str) else v for v in out[c]]
    if {"text", "turn_text", "start", "end"} <= {str(c) for c in df.columns}:
        out["text"] = _aligned_texts(df, out)
    return out


def _aligned_texts(df: pd.DataFrame, out: pd.DataFrame) -> list[Any]:
    texts = []
    for orig, red, whole, red_whole, start, end in zip(
            df["text"], out["text"], df["turn_text"], out["turn_text"], df["start"], df["end"],
            strict=True):
        s, e = _number(start), _number(end)
        if (isinstance(orig, str) and isinstance(whole, str) and isinstance(red_whole, str)
                and s is not None and e is not None and whole[int(s):int(e)] == orig):
            texts.append(red_whole[int(s):int(e)])
        else:
            texts.append(red)
    return texts


def _cell_value(v: Any, redact: bool) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        return _clean_str(redact_text(v) if redact else v)
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and math.isnan(v) else v
    item = getattr(v, "item", None)  # numpy scalars
    if callable(item) and not isinstance(v, (list, tuple, dict)):
        try:
            py = item()
        except (TypeError, ValueError):
            py = None
        else:
            return _cell_value(py, redact)
    if isinstance(v, (list, tuple, dict, set)):
        return _cell_value(json.dumps(list(v) if isinstance(v, set) else v,
                                      ensure_ascii=False, default=str), redact)
    pd = sys.modules.get("pandas")  # a pandas value (NaT, NA, Timestamp) needs pandas loaded
    if pd is not None:
        try:
            if pd.isna(v):
                return None
            if isinstance(v, pd.Timestamp):
                return v.to_pydatetime().replace(tzinfo=None)
        except (TypeError, ValueError):
            pass
    return _cell_value(str(v), redact)


def _clean_str(s: str) -> str:
    s = xml_safe(s, "\ufffd")
    if len(s) > MAX_CELL_CHARS:
        s = s[: MAX_CELL_CHARS - 1] + "…"
    return s


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "y", "是")
    try:
        return bool(v) and not (isinstance(v, float) and math.isnan(v))
    except (TypeError, ValueError):  # pd.NA
        return False


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _display_width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s)


def _widths(sample: list[tuple[Any, ...]], columns: list[str]) -> list[float]:
    widths = []
    for j, name in enumerate(columns):
        longest = _display_width(name) + 3  # room for the filter button
        for row in sample:
            v = row[j] if j < len(row) else None
            if v is None:
                continue
            text = str(v)
            if len(text) > _MAX_WIDTH * 2:
                longest = _MAX_WIDTH
                break
            longest = max(longest, _display_width(text))
        widths.append(float(min(_MAX_WIDTH, max(_MIN_WIDTH, longest + 1))))
    return widths


def _flatten(summary: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, prefix=f"{name}.")
        elif isinstance(value, (list, tuple, set)) and not isinstance(value, str):
            yield name, ", ".join(str(x) for x in _iter(value))
        else:
            yield name, value


def _iter(value: Iterable[Any]) -> Iterable[Any]:
    return sorted(value, key=str) if isinstance(value, set) else value
