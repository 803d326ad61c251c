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

from phrasecheck.plotting import (
    CJK_FONTS,
    CjkFontNotFound,
    find_cjk_font,
    use_cjk_font,
)

needs_cjk_font = pytest.mark.skipif(
    find_cjk_font() is None,
    reason="no CJK font installed (Debian: apt-get install fonts-noto-cjk)")

LABELS = ("服务用语质检：得分分布", "不合格", "推诿", "会话数")


def _save_chart(path: Path) -> list[str]:
    """Draw a chart with Chinese title, labels and a negative tick; return the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar([LABELS[1], LABELS[2]], [3, -2])
        ax.set_title(LABELS[0])
        ax.set_ylabel(LABELS[3])
        fig.savefig(path, dpi=80)
        plt.close(fig)
    return [str(w.message) for w in caught]


@pytest.fixture
def restore_rc() -> Iterator[None]:
    with matplotlib.rc_context():
        yield None


@needs_cjk_font
def test_use_cjk_font_renders_chinese_without_missing_glyphs(tmp_path: Path,
                                                             restore_rc: object) -> None:
    name = use_cjk_font()
    assert name in CJK_FONTS
    assert matplotlib.rcParams["font.sans-serif"][0] == name
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    png = tmp_path / "chart.png"
    messages = _save_chart(png)
    assert not [m for m in messages if "missing from font" in m], messages
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_cjk_font
def test_default_font_would_show_boxes(tmp_path: Path, restore_rc: object) -> None:
    """The check above can fail: without the helper, the same chart warns of missing glyphs."""
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    messages = _save_chart(tmp_path / "boxes.png")
    assert any("missing from font" in m for m in messages)


def test_no_cjk_font_raises_a_clear_error(restore_rc: object) -> None:
    before = list(matplotlib.rcParams["font.sans-serif"])
    with pytest.raises(CjkFontNotFound, match=r"looked for: No Such Font A, No Such Font B.*"
                                              r"fonts-noto-cjk"):
        use_cjk_font(["No Such Font A", "No Such Font B"])
    assert matplotlib.rcParams["font.sans-serif"] == before


def test_importing_plotting_imports_no_matplotlib() -> None:
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, phrasecheck.plotting; print('matplotlib' in sys.modules)"],
        check=True, capture_output=True, text=True).stdout.strip()
    assert out == "False"
