"""Plot helpers for matplotlib (the ``plot`` extra): Chinese labels that render.

matplotlib's default font (DejaVu Sans) has no CJK glyphs, so every Chinese label renders as
boxes with a "Glyph ... missing from font" warning. :func:`use_cjk_font` picks a CJK font
that is installed (on Debian/Ubuntu: ``apt-get install fonts-noto-cjk``, which ``.ci/run``
installs) and makes it matplotlib's sans-serif font. matplotlib is imported inside the
function, never at import time.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CJK_FONTS", "CjkFontNotFound", "find_cjk_font", "use_cjk_font"]

#: Font families tried, in order: Simplified Chinese first, then other CJK families (their
#: Han glyphs cover Chinese text too), then the usual Windows and macOS fonts.
CJK_FONTS: tuple[str, ...] = (
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

_INSTALL_HINT = ("install one, e.g. `sudo apt-get install fonts-noto-cjk` (Debian/Ubuntu), "
                 "`sudo dnf install google-noto-sans-cjk-fonts` (Fedora) or "
                 "`brew install --cask font-noto-sans-cjk` (macOS); then clear matplotlib's "
                 "font cache (`rm -rf ~/.cache/matplotlib`) if it was installed after "
                 "matplotlib first ran")


class CjkFontNotFound(RuntimeError):
    """No CJK font known to matplotlib; the message lists the fonts looked for."""


def find_cjk_font(candidates: Sequence[str] = CJK_FONTS) -> str | None:
    """The first of ``candidates`` that matplotlib's font manager knows, or ``None``."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in candidates:
        if name in installed:
            return name
    return None


def use_cjk_font(candidates: Sequence[str] = CJK_FONTS) -> str:
    """Make an installed CJK font matplotlib's sans-serif font; return its family name.

    Sets ``font.family`` to sans-serif with the font first in ``font.sans-serif`` (the
    previous entries follow it, for Latin text), and ``axes.unicode_minus = False`` (CJK
    fonts often lack U+2212 MINUS SIGN, so negative tick labels would show a box).
    Raises :class:`CjkFontNotFound` naming every font looked for when none is installed.

    >>> from phrasecheck.plotting import use_cjk_font
    >>> use_cjk_font()  # doctest: +SKIP
    'Noto Sans CJK SC'
    """
    import matplotlib as mpl

    name = find_cjk_font(candidates)
    if name is None:
        raise CjkFontNotFound(
            "no CJK font found for matplotlib's Chinese labels (looked for: "
            + ", ".join(candidates) + "); " + _INSTALL_HINT)
    current = [f for f in mpl.rcParams["font.sans-serif"] if f != name]
    mpl.rcParams["font.sans-serif"] = [name, *current]
    mpl.rcParams["font.family"] = ["sans-serif"]
    mpl.rcParams["axes.unicode_minus"] = False
    return name
