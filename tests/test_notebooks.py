"""The notebooks in notebooks/: committed without outputs, and they run without an error."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"01_explore_scores.ipynb", "02_lexicon_and_classifier.ipynb"}
CELL_TIMEOUT = 300  # seconds per cell


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_the_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear "
                       f"them before committing (jupyter nbconvert --clear-output --inplace)")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


# Appended to each notebook as it runs (never saved): which font file the kernel's matplotlib
# draws a Chinese title with, and whether that file has every one of its glyphs.
FONT_CHECK = """\
import matplotlib.pyplot as _plt
from matplotlib import font_manager as _fm, ft2font as _ft
_fig, _ax = _plt.subplots()
_title = _ax.set_title("服务用语质检：得分分布，不合格会话数")
_fig.canvas.draw()
_path = _fm.findfont(_title.get_fontproperties())
_font = _ft.FT2Font(_path)
print("FONT-CHECK", all(_font.get_char_index(ord(c)) for c in _title.get_text()), _path)
_plt.close(_fig)
"""


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path) -> None:
    """Runs as a newcomer would: the CJK font comes from the test extra (weblate-fonts), no
    system font is needed; the plots' text must use a font that has the Chinese glyphs."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    from phrasecheck.plotting import find_cjk_font

    if sys.version_info < (3, 11) and find_cjk_font() is None:
        pytest.skip("no CJK font: weblate-fonts needs Python >= 3.11, and no system CJK font")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(FONT_CHECK))
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    started = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name} failed:\n{e}", pytrace=False)
    elapsed = time.perf_counter() - started
    print(f"{path.name}: {elapsed:.1f} s")
    errors, glyphs = [], []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append((i, out.get("ename")))
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            if "missing from font" in text:
                glyphs.append((i, text.strip().splitlines()[0]))
    assert not errors
    assert not glyphs, f"{path.name}: labels rendered without a CJK font: {glyphs}"
    check = "".join(out.get("text", "") for out in nb.cells[-1].get("outputs", []))
    assert "FONT-CHECK True" in check, f"{path.name}: the plots' font lacks CJK glyphs: {check}"
    images = sum("image/png" in out.get("data", {}) for c in nb.cells
                 for out in c.get("outputs", []))
    assert images >= 4, f"{path.name}: expected its charts, got {images} image(s)"
