"""Reports: the HTML and Excel report writers, PII redaction and atomic file writes.

>>> from phrasecheck.reports import redact
>>> redact("回拨 13812345678")
'回拨 138****5678'
"""

from __future__ import annotations

from ._atomic import atomic_write
from .excel import write_xlsx_report
from .html import write_html_report
from .redact import PII_KINDS, find_pii, redact

__all__ = [
    "PII_KINDS",
    "atomic_write",
    "find_pii",
    "redact",
    "write_html_report",
    "write_xlsx_report",
]
