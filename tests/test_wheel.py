"""The wheel carries its lexicons, presets and model: an installed phrasecheck needs no
source tree. Builds the wheel, installs it into a fresh virtualenv outside the checkout, and
runs the default Analyzer there."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True)
    (whl,) = out.glob("phrasecheck-*.whl")
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "phrasecheck/py.typed" in names
    assert "phrasecheck/_data/lexicons/required.yaml" in names
    assert "phrasecheck/_data/lexicons/categories.yaml" in names
    assert "phrasecheck/_data/lexicons/charfreq.tsv" in names
    assert "phrasecheck/presets/default.yaml" in names
    assert {"phrasecheck/models/tone.json", "phrasecheck/models/tone.tables",
            "phrasecheck/models/complaint.json", "phrasecheck/models/complaint.tables"} <= names
    for name in ("report.html", "conversation.html", "report.css", "report.js"):
        assert f"phrasecheck/reports/templates/{name}" in names
    assert not any(n.startswith(("tests/", "corpora/")) for n in names)


def test_installed_wheel_finds_its_defaults(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True,
                               text=True).stdout.strip())
    # Dependencies come from this test environment's site-packages (added AFTER the fresh
    # venv's own, and without running its .pth files, so an editable install is not seen).
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                    "--target", str(site), str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = (
        "import phrasecheck, os\n"
        "from phrasecheck.lexicon import default_lexicon_dir\n"
        "a = phrasecheck.Analyzer(model=None)\n"
        "print(phrasecheck.__file__)\n"
        "print(default_lexicon_dir())\n"
        "print([f.text for f in a.check_text('您好，请稍等')])\n"
        "print(sorted(os.listdir('.')))\n"
        # the HTML report's templates load from the installed package
        "from phrasecheck.reports import write_html_report\n"
        "c = phrasecheck.Conversation('c1', (phrasecheck.Turn(0, 'agent', '您好'),))\n"
        f"write_html_report({str(tmp_path / 'r.html')!r}, lambda: [(c, a.score(c))])\n"
        "import phrasecheck.reports.html as h\n"
        "print(h._environment().get_template('report.html').filename)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([str(py), "-c", code], cwd=work, check=True, capture_output=True,
                         text=True, env=env).stdout.splitlines()
    assert out[0].startswith(str(site)), out
    assert out[1].startswith(str(site)), out
    assert "您好" in out[2]
    assert out[3] == "[]"  # nothing written into the working directory
    assert out[4].startswith(str(site)), out
    assert "<mark class=\"req\"" in (tmp_path / "r.html").read_text(encoding="utf-8")
