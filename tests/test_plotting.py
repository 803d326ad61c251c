"""phrasecheck.plotting: a CJK font for matplotlib, so Chinese labels render as text."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import font_manager, ft2font

import phrasecheck.plotting as plotting
from phrasecheck.plotting import (
    CJK_FONTS,
    CjkFontNotFound,
    CjkFontWarning,
    find_cjk_font,
    packaged_font_files,
    use_cjk_font,
)

# the plot extra installs weblate-fonts wherever it can (it needs Python >= 3.11)
FONT_PACKAGE_EXPECTED = sys.version_info >= (3, 11)
needs_cjk_font = pytest.mark.skipif(
    find_cjk_font() is None and not FONT_PACKAGE_EXPECTED,
    reason="no CJK font: weblate-fonts needs Python >= 3.11, and no system CJK font")

LABELS = ("服务用语质检：得分分布", "不合格", "推诿", "会话数")


def _chart() -> tuple[plt.Figure, list[str]]:
    """A drawn chart with Chinese title, labels and a negative tick, and the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar([LABELS[1], LABELS[2]], [3, -2])
        ax.set_title(LABELS[0])
        ax.set_ylabel(LABELS[3])
        fig.canvas.draw()
    return fig, [str(w.message) for w in caught]


def _uncovered(fig: plt.Figure) -> dict[str, tuple[str, str]]:
    """Every text drawn on ``fig`` whose font file lacks one of its characters:
    text -> (font file, missing characters)."""
    bad = {}
    for text in fig.findobj(matplotlib.text.Text):
        s = text.get_text()
        if not s.strip() or not text.get_visible():
            continue
        path = font_manager.findfont(text.get_fontproperties())
        font = ft2font.FT2Font(path)
        missing = "".join(c for c in set(s) if not c.isspace() and font.get_char_index(ord(c)) == 0)
        if missing:
            bad[s] = (path, missing)
    return bad


@pytest.fixture
def restore_rc() -> Iterator[None]:
    with matplotlib.rc_context():
        yield None


def test_the_packaged_font_is_installed_with_the_extra() -> None:
    if not FONT_PACKAGE_EXPECTED:
        pytest.skip("weblate-fonts needs Python >= 3.11")
    files = packaged_font_files()
    assert files, "pip install -e '.[test]' (or '.[plot]') should have installed weblate-fonts"
    assert all(p.suffix == ".ttf" and p.stat().st_size > 1_000_000 for p in files)


@needs_cjk_font
def test_rendered_text_uses_a_font_with_the_cjk_glyphs(restore_rc: object) -> None:
    name = use_cjk_font()
    assert name in CJK_FONTS
    assert matplotlib.rcParams["font.sans-serif"][0] == name
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    fig, messages = _chart()
    try:
        assert not _uncovered(fig)
        title = font_manager.findfont(fig.axes[0].title.get_fontproperties())
        if FONT_PACKAGE_EXPECTED:  # the pip-installed font, whatever the system has
            assert Path(title) in packaged_font_files(), title
    finally:
        plt.close(fig)
    assert not [m for m in messages if "missing from font" in m], messages


@needs_cjk_font
def test_the_chart_saves_as_png(tmp_path: Path, restore_rc: object) -> None:
    use_cjk_font()
    fig, _ = _chart()
    fig.savefig(tmp_path / "chart.png", dpi=80)
    plt.close(fig)
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_font_would_show_boxes(restore_rc: object) -> None:
    """The checks above can fail: with matplotlib's default font the same chart lacks glyphs."""
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    fig, messages = _chart()
    plt.close(fig)
    assert _uncovered(fig)
    assert any("missing from font" in m for m in messages)


def test_no_cjk_font_warns_once_and_plots(restore_rc: object,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plotting, "_warned", False)
    before = dict(matplotlib.rcParams)
    missing = ["No Such Font A", "No Such Font B"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # show every warning, however often
        assert use_cjk_font(missing) is None
        assert dict(matplotlib.rcParams) == before
        assert use_cjk_font(missing) is None
        matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
        fig, ax = plt.subplots()
        ax.set_title(LABELS[0])
        fig.canvas.draw()  # still works, and matplotlib's per-glyph warnings are silenced
        plt.close(fig)
    messages = [(w.category, str(w.message)) for w in caught]
    assert len(messages) == 1, messages
    category, message = messages[0]
    assert category is CjkFontWarning
    assert "looked for: No Such Font A, No Such Font B" in message
    assert "phrasecheck[plot]" in message


def test_strict_raises_a_clear_error(restore_rc: object) -> None:
    before = list(matplotlib.rcParams["font.sans-serif"])
    with pytest.raises(CjkFontNotFound, match=r"looked for: No Such Font A.*fonts-noto-cjk"):
        use_cjk_font(["No Such Font A"], strict=True)
    assert matplotlib.rcParams["font.sans-serif"] == before


def test_registering_fonts_writes_no_font_cache(tmp_path: Path) -> None:
    """The packaged font is added in memory: matplotlib's cache folder is left as it was."""
    code = ("import matplotlib, os; matplotlib.use('Agg'); "
            "from matplotlib import font_manager; "
            "d = matplotlib.get_cachedir(); before = sorted(os.listdir(d)); "
            "stamps = [os.stat(os.path.join(d, f)).st_mtime_ns for f in before]; "
            "from phrasecheck.plotting import use_cjk_font; use_cjk_font(); "
            "after = sorted(os.listdir(d)); "
            "assert after == before, (before, after); "
            "assert [os.stat(os.path.join(d, f)).st_mtime_ns for f in after] == stamps")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_plotting_imports_no_matplotlib() -> None:
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, phrasecheck.plotting; print('matplotlib' in sys.modules)"],
        check=True, capture_output=True, text=True).stdout.strip()
    assert out == "False"
