"""The notebooks in notebooks/: committed without outputs, and they run without an error."""

from __future__ import annotations

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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path) -> None:
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    from phrasecheck.plotting import find_cjk_font

    if find_cjk_font() is None:
        pytest.skip("no CJK font for the plots (Debian: apt-get install fonts-noto-cjk)")
    nb = nbformat.read(path, as_version=4)
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
    images = sum("image/png" in out.get("data", {}) for c in nb.cells
                 for out in c.get("outputs", []))
    assert images >= 4, f"{path.name}: expected its charts, got {images} image(s)"
