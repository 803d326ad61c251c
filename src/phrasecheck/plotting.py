"""Plot helpers for matplotlib (the ``plot`` extra): Chinese labels that render.

matplotlib's default font (DejaVu Sans) has no CJK glyphs, so every Chinese label renders as
boxes with a "Glyph ... missing from font" warning. :func:`use_cjk_font` makes a CJK font
matplotlib's sans-serif font, looking in this order:

1. a CJK font that a pip package ships: the ``plot`` and ``notebooks`` extras install
   ``weblate-fonts``, whose Kurinto Sans SC (a pan-CJK font under the SIL Open Font License
   1.1) is registered with matplotlib's font manager at run time: in memory, for this
   process; no font cache is written or deleted, no system font is needed;
2. a CJK font installed on the system (``apt-get install fonts-noto-cjk``, the usual Windows
   and macOS fonts: :data:`CJK_FONTS`);
3. none: it warns once (:class:`CjkFontWarning`) and leaves matplotlib as it was, so plots
   still work, with boxes for the Chinese characters.

matplotlib is imported inside the functions, never at import time.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "CJK_FONTS",
    "PACKAGED_FONTS",
    "CjkFontNotFound",
    "CjkFontWarning",
    "find_cjk_font",
    "packaged_font_files",
    "use_cjk_font",
]

#: CJK fonts that pip packages ship: (import name of the package, folder inside it, font
#: files, family name). weblate-fonts is maintained by the Weblate project, licensed
#: OFL-1.1 as a whole, and needs Python >= 3.11.
PACKAGED_FONTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("weblate_fonts", "static/weblate_fonts/kurinto/ttf",
     ("KurintoSansSC-Rg.ttf", "KurintoSansSC-Bd.ttf"), "Kurinto Sans SC"),
)

#: Font families tried, in order: the packaged font first (the same on every machine that
#: installed the extra), then Simplified Chinese system fonts, then other CJK families (their
#: Han glyphs cover Chinese text too), then the usual Windows and macOS fonts.
CJK_FONTS: tuple[str, ...] = (
    "Kurinto Sans SC",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Serif CJK SC",
    "Source Han Serif SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Source Han Sans",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Arial Unicode MS",
)

_INSTALL_HINT = ("install the plot extra, which brings an open-licensed CJK font: "
                 "`pip install 'phrasecheck[plot]'` (Python >= 3.11), or a system font, e.g. "
                 "`sudo apt-get install fonts-noto-cjk` (Debian/Ubuntu)")
_warned = False


class CjkFontNotFound(RuntimeError):
    """No CJK font known to matplotlib (``use_cjk_font(strict=True)``); the message lists
    the fonts looked for."""


class CjkFontWarning(UserWarning):
    """No CJK font was found: Chinese labels will show as boxes (given once a process)."""


def packaged_font_files() -> list[Path]:
    """The font files of :data:`PACKAGED_FONTS` that are installed (found without importing
    their packages)."""
    found = []
    for package, folder, names, _family in PACKAGED_FONTS:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for root in (spec.submodule_search_locations or []) if spec is not None else []:
            found += [p for p in (Path(root) / folder / n for n in names) if p.is_file()]
    return found


def _register_packaged_fonts() -> None:
    """Add the installed packaged fonts to matplotlib's font manager (in memory, once)."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in packaged_font_files():
        if str(path) not in known:
            font_manager.fontManager.addfont(str(path))


def find_cjk_font(candidates: Sequence[str] = CJK_FONTS) -> str | None:
    """The first of ``candidates`` that matplotlib's font manager knows, after registering
    the packaged fonts; ``None`` when there is none."""
    from matplotlib import font_manager

    _register_packaged_fonts()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in candidates:
        if name in installed:
            return name
    return None


def use_cjk_font(candidates: Sequence[str] = CJK_FONTS, *, strict: bool = False
                 ) -> str | None:
    """Make a CJK font matplotlib's sans-serif font; return its family name.

    Sets ``font.family`` to sans-serif with the font first in ``font.sans-serif`` (the
    previous entries follow it, for Latin text), and ``axes.unicode_minus = False`` (CJK
    fonts often lack U+2212 MINUS SIGN, so negative tick labels would show a box).

    When no CJK font exists, returns ``None`` after one :class:`CjkFontWarning` a process
    saying how to get one, changes no setting, and silences matplotlib's warning for every
    missing glyph (it would repeat the same news for each character); plotting still works.
    With ``strict=True`` it raises :class:`CjkFontNotFound` instead.

    >>> from phrasecheck.plotting import use_cjk_font
    >>> use_cjk_font()  # doctest: +SKIP
    'Kurinto Sans SC'
    """
    import matplotlib as mpl

    global _warned
    name = find_cjk_font(candidates)
    if name is None:
        message = ("no CJK font found for matplotlib's Chinese labels (looked for: "
                   + ", ".join(candidates) + "); " + _INSTALL_HINT)
        if strict:
            raise CjkFontNotFound(message)
        if not _warned:
            _warned = True
            warnings.warn(message + "; Chinese characters will show as boxes",
                          CjkFontWarning, stacklevel=2)
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font",
                                category=UserWarning)
        return None
    current = [f for f in mpl.rcParams["font.sans-serif"] if f != name]
    mpl.rcParams["font.sans-serif"] = [name, *current]
    mpl.rcParams["font.family"] = ["sans-serif"]
    mpl.rcParams["axes.unicode_minus"] = False
    return name
