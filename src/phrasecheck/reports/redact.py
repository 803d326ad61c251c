"""Find and mask personal data in transcript text, keeping every character offset.

:func:`find_pii` returns half-open ``(start, end, kind)`` spans; :func:`redact` replaces the
hidden characters of each span with ``*`` one for one, so ``len(redact(t)) == len(t)`` and
every finding span computed on the original text still points at the same place.

Kinds, checked in this order of precedence when two candidates overlap (longest wins first):

``id_card``
    18-digit resident identity numbers (GB 11643) whose ISO 7064 MOD 11-2 check character is
    right and whose birth date exists (1900 to this year). Keeps the 6-digit region code and
    the last 4 characters: ``110105********123X``.
``bank_card``
    16 to 19 digits passing the Luhn check, written in one run or in groups of four separated
    by spaces or dashes. Keeps the first 6 (issuer) and the last 4 digits.
``mobile``
    mainland mobile numbers ``1[3-9]x xxxx xxxx`` with optional ``+86``/``0086`` prefix and
    optional spaces or dashes (``138-1234-5678``). Keeps the first 3 and the last 4 digits.
``landline``
    ``010-12345678``, ``0571 88886666``, ``(0571)88886666``. Keeps the area code and the last
    2 digits.
``email``
    ``name@example.com``. Keeps the first character of the local part and the domain.

Digits are ASCII or full-width (``１３８…``). Separators and prefixes are never masked, so a
masked number keeps its shape (``138-****-5678``). A candidate is only matched as a whole
digit run: ``(?<!\\d)`` / ``(?!\\d)`` stop a 19-digit run from yielding an 11-digit "mobile".
Numbers written in Chinese numerals (一三八…) are not detected.
"""

from __future__ import annotations

import bisect
import datetime
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable

__all__ = [
    "PII_KINDS",
    "REDACT_KINDS",
    "Redactor",
    "find_pii",
    "id_card_valid",
    "luhn_valid",
    "mask_span",
    "redact",
    "redactor",
]

PII_KINDS: tuple[str, ...] = ("id_card", "bank_card", "mobile", "landline", "email")

_D = "[0-9０-９]"  # a digit, ASCII or full-width
_SEP = "[ \\-－]"  # a separator inside a number: space, ASCII or full-width dash
_NOT_DIGIT_BEFORE = "(?<![0-9０-９])"
_NOT_DIGIT_AFTER = "(?![0-9０-９])"

_ID_RE = re.compile(
    _NOT_DIGIT_BEFORE
    + f"(?:[1-9１-９]{_D}{{5}})"  # region
    + f"(?:{_D}{{8}})"  # birth date, checked in code
    + f"{_D}{{3}}[0-9０-９Xx]"  # sequence and check character
    + "(?![0-9０-９A-Za-z])"
)
_BANK_RE = re.compile(
    _NOT_DIGIT_BEFORE
    + f"(?:(?P<core>{_D}{{4}}(?:{_SEP}{_D}{{4}}){{3}})(?P<tail>{_SEP}?{_D}{{1,3}})?"
    + f"|{_D}{{16,19}})"
    + _NOT_DIGIT_AFTER
)
_MOBILE_RE = re.compile(
    "(?:(?<![0-9０-９+＋])(?P<cc>(?:[+＋]|00)86[ \\-－]?)|" + _NOT_DIGIT_BEFORE + ")"
    + f"(?P<num>[1１][3-9３-９]{_D}{_SEP}?{_D}{{4}}{_SEP}?{_D}{{4}})"
    + _NOT_DIGIT_AFTER
)
_LANDLINE_RE = re.compile(
    _NOT_DIGIT_BEFORE
    + "(?P<area>"
    + f"[(（][0０]{_D}{{2,3}}[)）]{_SEP}?"  # (0571) 88886666
    + f"|[0０](?:[1１][0０]|[2２]{_D}){_SEP}?"  # 010-, 021-: 8-digit local numbers
    + f"|[0０][3-9３-９]{_D}{{2}}{_SEP}?"  # 0571-: 7 or 8 digits
    + ")"
    + f"(?P<local>[2-9２-９]{_D}{{6,7}})"
    + _NOT_DIGIT_AFTER
)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-@])"
    r"(?P<local>[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63})@"
    r"(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9\-@])"
)

_QUICK = re.compile(r"[0-9０-９@]")  # every kind needs a digit or an @

_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"


def _digits(s: str) -> str:
    """ASCII digits of ``s`` (full-width folded); other characters dropped."""
    return "".join(str(unicodedata.digit(c)) for c in s if c.isdigit())


def luhn_valid(number: str) -> bool:
    """True if the digits of ``number`` (separators ignored) pass the Luhn check."""
    digits = _digits(number)
    if not digits:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def id_card_valid(number: str, *, today: datetime.date | None = None) -> bool:
    """True for an 18-character resident ID number with a real birth date and check character.

    >>> id_card_valid("11010519491231002X")
    True
    >>> id_card_valid("110105194912310021")
    False
    """
    s = unicodedata.normalize("NFKC", number).upper()
    if len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        return False
    body = _digits(s[:17])
    if len(body) != 17 or body[0] == "0":
        return False
    try:
        born = datetime.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return False
    if not datetime.date(1900, 1, 1) <= born <= (today or datetime.date.today()):
        return False
    check = _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    return s[17] == check


def _keep(text: str, first: int, last: int) -> str:
    """Mask the digits of ``text`` except the first ``first`` and last ``last`` digits."""
    positions = [i for i, c in enumerate(text) if c.isdigit()]
    hide = set(positions[first:len(positions) - last] if last else positions[first:])
    return "".join("*" if i in hide else c for i, c in enumerate(text))


def _mask_id(s: str) -> str:
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def _mask_email(s: str) -> str:
    at = s.rfind("@")
    if at <= 0:
        return "*" * len(s)
    return s[0] + "*" * (at - 1) + s[at:]


def _mask_mobile(s: str) -> str:
    m = _MOBILE_RE.fullmatch(s)
    if m is None:  # a caller-supplied span that is not a clean match
        return _keep(s, 3, 4)
    cc = m.group("cc") or ""
    return cc + _keep(m.group("num"), 3, 4)


def _mask_landline(s: str) -> str:
    m = _LANDLINE_RE.fullmatch(s)
    if m is None:
        return _keep(s, 0, 2)
    return m.group("area") + _keep(m.group("local"), 0, 2)


_MASKERS: dict[str, Callable[[str], str]] = {
    "id_card": _mask_id,
    "bank_card": lambda s: _keep(s, 6, 4),
    "mobile": _mask_mobile,
    "landline": _mask_landline,
    "email": _mask_email,
}


def mask_span(text: str, kind: str) -> str:
    """The masked form of one PII string of ``kind``: same length, ``*`` for hidden characters.

    Unknown kinds are masked whole.
    """
    masker = _MASKERS.get(kind)
    return masker(text) if masker else "*" * len(text)


def _candidates(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _ID_RE.finditer(text):
        if id_card_valid(m.group()):
            yield m.start(), m.end(), "id_card"
    for m in _BANK_RE.finditer(text):
        if 16 <= len(_digits(m.group())) <= 19 and luhn_valid(m.group()):
            yield m.start(), m.end(), "bank_card"
        elif m.group("tail") and not m.group("tail")[0].isdigit() and luhn_valid(
                m.group("core")):
            # 6228 4800 1234 5671 9: a 16-digit card followed by another number group
            yield m.start(), m.end("core"), "bank_card"
    for m in _MOBILE_RE.finditer(text):
        yield m.start(), m.end(), "mobile"
    for m in _LANDLINE_RE.finditer(text):
        yield m.start(), m.end(), "landline"
    if "@" in text:
        for m in _EMAIL_RE.finditer(text):
            yield m.start(), m.end(), "email"


_PRECEDENCE = {k: i for i, k in enumerate(PII_KINDS)}


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Personal data in ``text``: sorted, non-overlapping half-open ``(start, end, kind)`` spans.

    >>> find_pii("电话13812345678，邮箱 li.lei@example.com")
    [(2, 13, 'mobile'), (17, 35, 'email')]
    """
    if not text or _QUICK.search(text) is None:
        return []
    cands = sorted(_candidates(text), key=lambda c: (-(c[1] - c[0]), _PRECEDENCE[c[2]], c[0]))
    taken: list[tuple[int, int, str]] = []  # kept sorted by start; never overlapping
    for c in cands:
        i = bisect.bisect_left(taken, c)
        if (i == 0 or taken[i - 1][1] <= c[0]) and (i == len(taken) or c[1] <= taken[i][0]):
            taken.insert(i, c)
    return taken


def redact(text: str, spans: Iterable[tuple[int, int, str]] | None = None) -> str:
    """``text`` with personal data masked by ``*``, character for character.

    ``spans`` defaults to :func:`find_pii` of ``text``; pass your own to mask exactly those.
    The result always has the same length as ``text``.

    >>> redact("请拨打 138-1234-5678")
    '请拨打 138-****-5678'
    """
    if spans is None:
        spans = find_pii(text)
    chars: list[str] | None = None
    for start, end, kind in spans:
        start, end = max(0, start), min(len(text), end)
        if start >= end:
            continue
        if chars is None:
            chars = list(text)
        masked = mask_span(text[start:end], kind)
        chars[start:end] = masked if len(masked) == end - start else "*" * (end - start)
    return text if chars is None else "".join(chars)


# ------------------------------------------------------------------------------ redactors

#: What a report can mask: ``pii`` (the numbers and e-mail addresses above, the default)
#: and, on request, ``names`` and ``addresses`` (:mod:`phrasecheck.reports.names`).
REDACT_KINDS: tuple[str, ...] = ("pii", "names", "addresses")


class Redactor:
    """Masks the chosen kinds of personal data in a text, keeping its length.

    >>> Redactor(("pii",))("回拨 13812345678")
    '回拨 138****5678'

    Picklable (by its kinds), so batch workers can carry it.
    """

    __slots__ = ("_names", "kinds")

    def __init__(self, kinds: Iterable[str] = ("pii",)) -> None:
        wanted = tuple(dict.fromkeys(k.strip() for k in kinds if k.strip()))
        unknown = [k for k in wanted if k not in REDACT_KINDS]
        if unknown:
            raise ValueError(f"unknown redaction kind {', '.join(map(repr, unknown))} "
                             f"(available: {', '.join(REDACT_KINDS)})")
        self.kinds = tuple(k for k in REDACT_KINDS if k in wanted)
        self._names: Callable[[str], list[tuple[int, int, str]]] | None = None

    def __repr__(self) -> str:
        return f"Redactor({self.kinds!r})"

    def __reduce__(self) -> tuple[type[Redactor], tuple[tuple[str, ...]]]:
        return (Redactor, (self.kinds,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redactor) and other.kinds == self.kinds

    def __hash__(self) -> int:
        return hash(self.kinds)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Sorted, non-overlapping ``(start, end, kind)`` spans to mask in ``text``."""
        spans = find_pii(text) if "pii" in self.kinds else []
        if "names" in self.kinds or "addresses" in self.kinds:
            finder = self._names
            if finder is None:
                finder = self._names = _name_finder("names" in self.kinds,
                                                    "addresses" in self.kinds)
            extra = [s for s in finder(text)
                     if not any(s[0] < b and a < s[1] for a, b, _ in spans)]
            spans = sorted([*spans, *extra])
        return spans

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self.kinds == ("pii",):
            return redact(text)
        return redact(text, self.spans(text))


@functools.lru_cache(maxsize=4)
def _name_finder(names: bool, addresses: bool) -> Callable[[str], list[tuple[int, int, str]]]:
    """One finder (one loaded tagger) per process for each choice of kinds."""
    from .names import NameFinder

    return NameFinder(names=names, addresses=addresses).find


def redactor(spec: bool | str | Iterable[str] | Redactor | None) -> Redactor | None:
    """The :class:`Redactor` a report option asks for: ``True`` (numbers and e-mail
    addresses), ``False``/``None`` (nothing), a comma-separated string or a list of kinds
    (``"names,addresses"`` adds to the default ``pii``; ``"none"`` masks nothing)."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return Redactor(("pii",))
    if isinstance(spec, Redactor):
        return spec
    kinds = [k.strip() for k in (spec.split(",") if isinstance(spec, str) else spec)]
    kinds = [k for k in kinds if k]
    if kinds == ["none"]:
        return None
    if "all" in kinds:
        kinds = list(REDACT_KINDS)
    return Redactor(("pii", *kinds))
