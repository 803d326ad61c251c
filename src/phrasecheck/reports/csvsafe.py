"""CSV cells that a spreadsheet shows as text, never runs as a formula.

A QA lead opens ``scores.csv``, ``findings.csv`` and ``errors.csv`` in Excel or WPS, and
their cells hold untrusted text: conversation ids, agent ids, metadata, what callers and
agents said. A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return, which some spreadsheets skip before looking for one) is read as a formula, which
can compute, link out or run commands (CSV injection). Following OWASP's advice, such a
cell is written with a single quote in front, which spreadsheets show as text. The
full-width forms ``＝ ＋ － ＠`` count too (a Chinese input method types them, and some
spreadsheet versions accept them), and so does a trigger after leading spaces.

Only CSV is treated this way: JSONL and Parquet keep the exact text, and xlsx stores every
string as a string cell, never a formula. Numbers (scores, offsets) are numbers, not text,
and are never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FORMULA_TRIGGERS", "neutralise", "neutralise_row"]

#: Characters that make a spreadsheet read a cell as a formula when they come first.
FORMULA_TRIGGERS = frozenset("=+-@\t\r＝＋－＠")
_LEADING_SPACE = " \u00a0\u3000\n"
_FIRST = FORMULA_TRIGGERS | frozenset(_LEADING_SPACE)


def neutralise(value: Any) -> Any:
    """A text cell prefixed with ``'`` when a spreadsheet would read it as a formula;
    anything else unchanged."""
    if type(value) is not str or not value or value[0] not in _FIRST:
        return value
    head = value.lstrip(_LEADING_SPACE)
    if head and head[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def neutralise_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`neutralise` applied to every cell of a row."""
    return {k: (neutralise(v) if type(v) is str and v and v[0] in _FIRST else v)
            for k, v in row.items()}
