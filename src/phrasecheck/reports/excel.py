"""The Excel report, ready for a QA lead to sort, filter and review.

Sheets (named in the report's language, Chinese by default):

* 评分 Scores: one row per conversation; conditional formats colour scores below the pass line
  (the policy's, or ``fail_under``: the HTML report uses the same), vetoed conversations and
  failed rules, so the same conversations are red in both reports.
* 违规 Violations: banned phrases, tone-model verdicts and failed rules, one row each, with a
  复核结论 (verdict) column whose drop-down offers 确认 / 误报 / 待定 and 复核人 / 备注
  columns; ``phrasecheck review apply`` reads them back.
* 合规用语 Compliant hits: the required phrases found.
* 规则证据 Rule evidence: every rule outcome with its message and evidence (when given).
* 坐席 Agents: per agent: conversations, mean and lowest score, failed conversations and
  rule failures (when the scores have an ``agent_id`` column).
* 读取错误 Errors and 汇总 Summary.

Every sheet has a frozen, styled header row, an autofilter over its data and column widths
fitted to a sample of the contents; long text columns wrap. Each finding's matched text is
shaded by kind, and the ``turn_text`` cell (or the ``context`` cell, a window of the turn
starting at ``context_start``, as batch runs write) shows the match in coloured bold (rich
text), so the finding can be read in its context without leaving the sheet. Headers and the
values a person reads (grades, pass/fail, kinds, roles, severities) are in the report's
language; the data themselves (ids, codes, texts) are as written.

The workbook is written in openpyxl's write-only (streaming) mode whatever its size: one
code path, memory that does not grow with the number of rows, and the same features
(frozen panes, filters, widths, styles, rich text, conditional formats, drop-downs). Strings
that start with ``=`` are stored as text, never as formulas: transcripts are untrusted input.
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

from .. import i18n
from .._xml import xml_safe
from ._atomic import atomic_write
from .redact import redact as redact_text

if TYPE_CHECKING:
    import pandas as pd
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    from ..policy import Policy

__all__ = ["MAX_CELL_CHARS", "REVIEW_COLUMNS", "SHEETS", "VIOLATION_COLUMNS", "RowTable",
           "write_xlsx_report"]

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
MAX_ROWS = 1_048_576  # Excel's limit for one sheet, header included
_WIDTH_SAMPLE = 500
_MIN_WIDTH, _MAX_WIDTH = 6, 60
#: columns whose text wraps (and whose width is capped) rather than running on
_WRAP_COLUMNS = frozenset({"text", "context", "explanation", "basis_text", "suggestion",
                           "message", "evidence", "comment", "failed_rules", "reason",
                           "turn_text"})
_WRAP_WIDTH = 48

#: sheet key -> (Chinese name, English name)
SHEETS: dict[str, tuple[str, str]] = {
    "scores": ("评分", "Scores"),
    "violations": ("违规", "Violations"),
    "compliant": ("合规用语", "Compliant hits"),
    "rules": ("规则证据", "Rule evidence"),
    "agents": ("坐席", "Agents"),
    "errors": ("读取错误", "Errors"),
    "summary": ("汇总", "Summary"),
}

#: the review columns of the Violations sheet (the verdict has a drop-down list)
REVIEW_COLUMNS = ("verdict", "reviewer", "comment")
#: the Violations sheet: banned and tone findings (target "finding") and failed rules
#: (target "rule"); the key of a row is conversation_id, target, turn, start, end, code, rule
VIOLATION_COLUMNS = ["conversation_id", "target", "turn", "role", "start", "end", "code", "rule",
                     "category", "kind", "severity", "text", "context", "context_start",
                     "phrase", "suggestion", "source", "score", "deduction", "basis",
                     "basis_text", "explanation", *REVIEW_COLUMNS]

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
_PENDING_FILL = "FFF2CC"
_HEADER_FILL = "305496"
# how each localised column's values are shown (i18n.value_label kinds)
_VALUE_KINDS = {"outcome": "outcome", "kind": "kind", "severity": "severity", "role": "role",
                "source": "source", "verdict": "verdict", "target": "target"}


def write_xlsx_report(
    path: str | os.PathLike[str],
    scores_df: pd.DataFrame | RowTable,
    findings_df: pd.DataFrame | RowTable,
    errors_df: pd.DataFrame | RowTable,
    summary: Mapping[str, Any] | pd.DataFrame,
    redact: bool = True,
    *,
    fail_under: float | None = None,
    policy: Policy | None = None,
    lang: str = i18n.DEFAULT_LANG,
    violations: pd.DataFrame | RowTable | None = None,
    rule_evidence: pd.DataFrame | RowTable | None = None,
) -> None:
    """Write the Excel report to ``path`` atomically.

    ``scores_df`` has one row per conversation (``score``, ``vetoed`` and ``rule_<id>``
    columns are coloured by conditional formats when present), ``findings_df`` one row per
    finding (``text``, ``kind``, ``source`` and, for rich-text context, ``turn_text``,
    ``start``, ``end``): required phrases go to the Compliant hits sheet, the others to
    Violations. ``violations`` replaces that sheet's rows (batch runs add the failed rules:
    columns :data:`VIOLATION_COLUMNS`); ``rule_evidence`` adds the Rule evidence sheet.
    ``errors_df`` has one row per read error. Any other columns are written as they are.
    ``summary`` is a mapping (written as metric/value rows; nested mappings are flattened)
    or a DataFrame. Any table may be a :class:`RowTable` of streamed rows instead of a
    DataFrame.

    The pass line is ``fail_under`` when given, else the ``policy``'s lowest passing grade,
    else 60 (as in the HTML report). ``lang`` (``"zh"``, default, or ``"en"``) names the
    sheets and headers and shows grades, outcomes, kinds and verdicts.

    With ``redact=True`` personal data (see :mod:`phrasecheck.reports.redact`) is masked in
    every text cell; a finding's ``text`` is cut from the redacted ``turn_text`` when it has
    one, so both always agree.
    """
    from openpyxl import Workbook  # pandas only for DataFrames given in: RowTables need none

    from .html import pass_line

    i18n.check_lang(lang)
    line = pass_line(policy, fail_under)
    titles = {r.id: r.title for r in policy.rules} if policy is not None else {}
    wb = Workbook(write_only=True)
    notes: list[tuple[str, Any]] = []
    scores = RowTable.of(scores_df)

    def sheet(key: str) -> WriteOnlyWorksheet:
        return wb.create_sheet(i18n.pick(SHEETS[key], lang))

    ws = sheet("scores")
    n = _frame_sheet(ws, _localised(scores, lang), redact, notes, lang=lang, titles=titles)
    _score_formats(ws, scores.columns, n, line, lang)

    if redact and not isinstance(findings_df, RowTable):
        findings = RowTable.of(_redact_findings(findings_df))
        redact_findings = False  # already redacted, each text cut from its redacted turn
    else:
        findings = RowTable.of(findings_df)
        redact_findings = redact
    if violations is None:
        viol = _with_review(findings.where("kind", lambda k: k != "required"))
        redact_viol = redact_findings
    elif isinstance(violations, RowTable):
        viol, redact_viol = violations, redact
    else:
        viol, redact_viol = RowTable.of(violations), redact
    ws = sheet("violations")
    n = _frame_sheet(ws, _localised(viol, lang), redact_viol, notes,
                     row_style=_finding_styler(viol.columns), lang=lang, titles=titles)
    _review_formats(ws, viol.columns, n, lang)
    compliant = findings.where("kind", lambda k: k == "required")
    _frame_sheet(sheet("compliant"), _localised(compliant, lang), redact_findings, notes,
                 row_style=_finding_styler(compliant.columns), lang=lang, titles=titles)
    if rule_evidence is not None:
        rules = RowTable.of(rule_evidence)
        ws = sheet("rules")
        n = _frame_sheet(ws, _localised(rules, lang), redact, notes, lang=lang, titles=titles)
        _outcome_format(ws, rules.columns, n, lang)
    agents = _agents(scores, line)
    if agents is not None:
        ws = sheet("agents")
        n = _frame_sheet(ws, agents, redact, notes, lang=lang, titles=titles)
        _agent_formats(ws, agents.columns, n, line)
    _frame_sheet(sheet("errors"), RowTable.of(errors_df), redact, notes, lang=lang)
    if isinstance(summary, Mapping):
        items = [(i18n.summary_label(k, lang) if isinstance(k, str) else k, v)
                 for k, v in _flatten(summary)] + notes
        summary_rows = RowTable(["metric", "value"], lambda: iter(items))
    else:
        summary_rows = RowTable.of(summary)
    _frame_sheet(sheet("summary"), summary_rows, redact, [], lang=lang)
    with atomic_write(path, "wb") as fh:
        wb.save(fh)


# ------------------------------------------------------------------------------ tables


def _with_review(table: RowTable) -> RowTable:
    """``table`` with the review columns added (empty) where it lacks them."""
    missing = [c for c in REVIEW_COLUMNS if c not in table.columns]
    if not missing:
        return table
    extra = (None,) * len(missing)
    return RowTable([*table.columns, *missing],
                    lambda: (tuple(r) + extra for r in table.rows()))


def _localised(table: RowTable, lang: str) -> RowTable:
    """``table`` with the values a person reads shown in ``lang`` (grades, outcomes of
    ``rule_*`` columns, kinds, roles, severities, verdicts, yes/no)."""
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for j, c in enumerate(table.columns):
        kind = _VALUE_KINDS.get(c)
        if c.startswith("rule_") and c not in ("rule_id",):
            kind = "outcome"
        if kind is not None:
            converters.append((j, functools.partial(_label_or_none, kind, lang)))
        elif c == "grade" or c == "grade_before":
            converters.append((j, lambda v: None if v is None else i18n.grade_label(str(v),
                                                                                   lang)))
        elif c == "vetoed":
            converters.append((j, lambda v: i18n.labels(lang).yes if _truthy(v)
                               else i18n.labels(lang).no))
    if not converters:
        return table

    def rows() -> Iterator[tuple[Any, ...]]:
        for r in table.rows():
            out = list(r)
            for j, conv in converters:
                if j < len(out):
                    out[j] = conv(out[j])
            yield tuple(out)

    return RowTable(table.columns, rows)


def _label_or_none(kind: str, lang: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "kind" and value == "banned":
        return i18n.value_label(kind, value, lang)
    return i18n.value_label(kind, value, lang)


def _agents(scores: RowTable, line: float) -> RowTable | None:
    """Per agent, from the scores: conversations, mean and lowest score, failed
    conversations (below the pass line or vetoed), rule failures."""
    cols = scores.columns
    if "agent_id" not in cols or "score" not in cols:
        return None
    i_agent, i_score = cols.index("agent_id"), cols.index("score")
    i_veto = cols.index("vetoed") if "vetoed" in cols else None
    i_failed = cols.index("failed_rules") if "failed_rules" in cols else None
    agg: dict[str, list[float]] = {}
    for r in scores.rows():
        agent, score = r[i_agent], _number(r[i_score])
        if agent is None or agent == "" or score is None or (
                isinstance(agent, float) and math.isnan(agent)):
            continue
        a = agg.setdefault(str(agent), [0, 0.0, math.inf, 0, 0])
        a[0] += 1
        a[1] += score
        a[2] = min(a[2], score)
        a[3] += score < line or (i_veto is not None and _truthy(r[i_veto]))
        failed = r[i_failed] if i_failed is not None else None
        if isinstance(failed, str) and failed:
            a[4] += len([x for x in failed.split(",") if x.strip()])
    if not agg:
        return None
    columns = ["agent_id", "conversations", "mean", "min", "failed", "rule_failures"]
    rows = [(agent, int(a[0]), round(a[1] / a[0], 2), a[2], int(a[3]), int(a[4]))
            for agent, a in sorted(agg.items())]
    return RowTable(columns, lambda: iter(rows))


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

    def where(self, column: str, keep: Callable[[Any], bool]) -> RowTable:
        """The rows whose ``column`` value passes ``keep`` (all rows without that column)."""
        if column not in self.columns:
            return self
        j = self.columns.index(column)
        return RowTable(self.columns, lambda: (r for r in self.rows() if keep(r[j])))

RowStyler = Any  # Callable[[tuple[Any, ...]], dict[int, dict[str, Any]]] | None


def _frame_sheet(ws: WriteOnlyWorksheet, table: RowTable, redact: bool,
                 notes: list[tuple[str, Any]], row_style: RowStyler = None, *,
                 lang: str = i18n.DEFAULT_LANG, titles: Mapping[str, str] | None = None
                 ) -> int:
    """Stream ``table`` into ``ws``; returns the number of data rows written."""
    from itertools import islice

    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    columns = table.columns
    ncols = max(1, len(columns))
    limit = MAX_ROWS - 1
    # widths and frozen header must be set before the first row is streamed
    sample = list(islice(iter(table.rows()), _WIDTH_SAMPLE))
    headers = [i18n.column_label(c, lang, titles) for c in columns]
    wrap = {j for j, c in enumerate(columns) if c in _WRAP_COLUMNS}
    for i, width in enumerate(_widths(sample, headers), start=1):
        ws.column_dimensions[get_column_letter(i)].width = (
            min(width, _WRAP_WIDTH) if i - 1 in wrap else width)
    ws.freeze_panes = "A2"
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", start_color=_HEADER_FILL, end_color=_HEADER_FILL)
    header = []
    for name in headers:
        cell = WriteOnlyCell(ws, value=name)
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    ws.append(header)
    # one template cell per style: copying its style array is far cheaper than assigning
    # fill/font objects to every cell (openpyxl hashes them into its style tables each time)
    templates: dict[tuple[str | None, str | None, bool], Any] = {}

    def styled(value: Any, fill: str | None, font: str | None, wrapped: bool = False) -> Any:
        key = (fill, font, wrapped)
        tpl = templates.get(key)
        if tpl is None:
            tpl = WriteOnlyCell(ws)
            if fill is not None:
                tpl.fill = PatternFill("solid", start_color=fill, end_color=fill)
            if font is not None:
                tpl.font = Font(bold=True, color=font)
            if wrapped:
                tpl.alignment = Alignment(wrap_text=True, vertical="top")
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
            wrapped = j in wrap and isinstance(v, str) and v != ""
            if st is None and not wrapped and not (isinstance(v, str) and v.startswith("=")):
                out.append(v)
                continue
            st = st or {}
            if "rich" in st and isinstance(v, str):
                v = _rich(v, st["rich"])
            cell = styled(v, st.get("fill"), st.get("font"), wrapped)
            if isinstance(v, str):
                cell.data_type = "s"  # never a formula
            out.append(cell)
        ws.append(out)
    if skipped:
        notes.append((f"{ws.title}: " + i18n.summary_label("rows not shown", lang).format(
            limit=limit), skipped))
    ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{nrows + 1}"
    return nrows


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


def _fill(colour: str) -> Any:
    from openpyxl.styles import PatternFill

    return PatternFill("solid", start_color=colour, end_color=colour, bgColor=colour)


def _score_formats(ws: WriteOnlyWorksheet, columns: list[str], nrows: int, line: float,
                   lang: str) -> None:
    """Conditional formats of the Scores sheet: a row below the pass line or vetoed is
    shaded, its score in red; a failed rule's cell is red."""
    from openpyxl.formatting.rule import CellIsRule, FormulaRule
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    if nrows == 0:
        return
    last = nrows + 1
    i_score, i_veto = _col(columns, "score"), _col(columns, "vetoed")
    yes = i18n.labels(lang).yes
    tests = []
    if i_score is not None:
        col = get_column_letter(i_score + 1)
        tests.append(f"AND(ISNUMBER(${col}2),${col}2<{line:g})")
        ws.conditional_formatting.add(
            f"{col}2:{col}{last}", CellIsRule(operator="lessThan", formula=[f"{line:g}"],
                                              font=Font(bold=True, color="C00000")))
    if i_veto is not None:
        col = get_column_letter(i_veto + 1)
        tests.append(f'${col}2="{yes}"')
        ws.conditional_formatting.add(
            f"{col}2:{col}{last}", CellIsRule(operator="equal", formula=[f'"{yes}"'],
                                              fill=_fill(_VETO_FILL),
                                              font=Font(bold=True, color="C00000")))
    fail = i18n.value_label("outcome", "fail", lang)
    for j, c in enumerate(columns):
        if c.startswith("rule_"):
            col = get_column_letter(j + 1)
            ws.conditional_formatting.add(
                f"{col}2:{col}{last}", CellIsRule(operator="equal", formula=[f'"{fail}"'],
                                                  fill=_fill(_VETO_FILL),
                                                  font=Font(color="9C0006")))
    if tests:
        ref = f"A2:{get_column_letter(len(columns))}{last}"
        ws.conditional_formatting.add(ref, FormulaRule(
            formula=[tests[0] if len(tests) == 1 else f"OR({','.join(tests)})"],
            fill=_fill(_FAIL_FILL)))


def _outcome_format(ws: WriteOnlyWorksheet, columns: list[str], nrows: int, lang: str) -> None:
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.utils import get_column_letter

    j = _col(columns, "outcome")
    if j is None or nrows == 0:
        return
    col = get_column_letter(j + 1)
    fail = i18n.value_label("outcome", "fail", lang)
    ws.conditional_formatting.add(
        f"A2:{get_column_letter(len(columns))}{nrows + 1}",
        FormulaRule(formula=[f'${col}2="{fail}"'], fill=_fill(_FAIL_FILL)))


def _agent_formats(ws: WriteOnlyWorksheet, columns: list[str], nrows: int, line: float
                   ) -> None:
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    if nrows == 0:
        return
    for name, op, value in (("mean", "lessThan", f"{line:g}"), ("min", "lessThan", f"{line:g}"),
                            ("failed", "greaterThan", "0")):
        j = _col(columns, name)
        if j is not None:
            col = get_column_letter(j + 1)
            ws.conditional_formatting.add(
                f"{col}2:{col}{nrows + 1}",
                CellIsRule(operator=op, formula=[value], fill=_fill(_FAIL_FILL),
                           font=Font(bold=True, color="C00000")))


def _review_formats(ws: WriteOnlyWorksheet, columns: list[str], nrows: int, lang: str) -> None:
    """The verdict column's drop-down list (确认 / 误报 / 待定) and its colours."""
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    j = _col(columns, "verdict")
    if j is None:
        return
    col = get_column_letter(j + 1)
    last = max(nrows + 1, 2) + 1000  # room for rows a reviewer adds
    names = [i18n.value_label("verdict", v, lang)
             for v in ("confirmed", "false_positive", "pending")]
    dv = DataValidation(type="list", formula1='"' + ",".join(names) + '"', allow_blank=True,
                        showDropDown=False)
    dv.error = {"zh": "请从列表中选择：", "en": "Choose from the list: "}[lang] + "、".join(names)
    dv.errorTitle = i18n.column_label("verdict", lang)
    dv.add(f"{col}2:{col}{last}")
    ws.data_validations.append(dv)
    for name, colour in zip(names, (_VETO_FILL, "C6EFCE", _PENDING_FILL), strict=True):
        ws.conditional_formatting.add(f"{col}2:{col}{last}", CellIsRule(
            operator="equal", formula=[f'"{name}"'], fill=_fill(colour)))


def _finding_kind(kind: Any, source: Any) -> str:
    # the values may be shown in the report's language already (服务忌语, 语气模型)
    if source == "classifier" or i18n.value_from_label("source", str(source)) == "classifier":
        return "classifier"
    key = kind if kind in _KIND_COLOURS else i18n.value_from_label("kind", str(kind))
    return key if key in _KIND_COLOURS else "cue"


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
    result: pd.DataFrame = out
    return result


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
