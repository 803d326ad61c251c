"""Characters XML 1.0 cannot carry, for the .xlsx writers (openpyxl writes them verbatim and
produces a workbook nothing can open)."""

from __future__ import annotations

import re

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str, replacement: str = "") -> str:
    return XML_ILLEGAL.sub(replacement, text)
