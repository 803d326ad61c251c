"""Text that can always be written: lone surrogates and undecodable file names.

Python strings may hold lone surrogates (``"\\ud83d"``, an emoji cut in half by a JSON
escape, or the ``surrogateescape`` form of a file name that is not UTF-8). UTF-8 cannot
encode them, so one such character in a batch used to stop every output. Here is the single
place that deals with them:

* :func:`scrub` replaces each lone surrogate by U+FFFD, one character for one, so offsets
  into the text hold;
* :func:`display_path` shows a file name whose bytes are not UTF-8 with ``\\xNN`` escapes
  (the file is still opened by its real name);
* :func:`encode_errors` names an encoding error handler with the same effect as
  :func:`scrub`, for writers that must never fail on what reaches them (registered on first
  use, not at import).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["LONE_SURROGATE", "display_path", "encode_errors", "has_surrogate", "scrub",
           "scrub_value"]

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ENCODE_ERRORS = "phrasecheck.replace-surrogates"
_registered: list[bool] = []


def has_surrogate(text: str) -> bool:
    return LONE_SURROGATE.search(text) is not None


def scrub(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (same length)."""
    if LONE_SURROGATE.search(text) is None:
        return text
    return LONE_SURROGATE.sub("\ufffd", text)


def scrub_value(value: Any) -> Any:
    """:func:`scrub` through strings, lists and mappings (keys too), as JSON data holds them."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, Mapping):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    return value


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can be printed and written: bytes of a file name that are not
    UTF-8 (held as surrogate escapes) are shown as ``\\xNN``."""
    name = os.fspath(path)
    if LONE_SURROGATE.search(name) is None:
        return name
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate that is no surrogate escape
        return scrub(name)
    return raw.decode("utf-8", "backslashreplace")


def _replace(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        return "\ufffd" * (exc.end - exc.start), exc.end
    raise exc


def encode_errors() -> str:
    """The name of an encoding error handler that writes U+FFFD for each lone surrogate:
    ``text.encode("utf-8", encode_errors())`` never fails."""
    if not _registered:
        codecs.register_error(_ENCODE_ERRORS, _replace)
        _registered.append(True)
    return _ENCODE_ERRORS


def code_points(text: str) -> Any:
    """``text``'s code points as a numpy ``uint32`` array (lone surrogates included)."""
    import numpy as np

    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def translate_bmp(cps: Any, lut: Any) -> str:
    """The string of code points ``cps`` with each BMP character ``c`` replaced by
    ``lut[c]`` (a 65,536-entry ``uint32`` array) and the others kept: ``str.translate``
    with a one-to-one table, in one numpy lookup."""
    import numpy as np

    out = np.where(cps < 0x10000, lut[cps & 0xFFFF], cps)
    text: str = out.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    return text
