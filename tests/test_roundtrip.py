"""Writing conversations to every format and reading them back loses no turn and changes no
text; and the demo corpus reads cleanly."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from phrasecheck._xml import XML_ILLEGAL
from phrasecheck.readers import (
    WRITE_FORMATS,
    read_conversations,
    read_file,
    write_conversations,
)
from phrasecheck.readers.roles import squash
from phrasecheck.types import Conversation, ReadError, Turn

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
TARGETS = {"txt": "convs", "jsonl": "c.jsonl", "jsonl-messages": "m.jsonl", "json": "c.json",
           "csv": "c.csv", "xlsx": "c.xlsx"}
assert set(TARGETS) == set(WRITE_FORMATS)

# texts as the issue specifies: any Unicode but control characters and line breaks, stripped
texts = (st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                 max_size=40)
         .map(str.strip).filter(bool))
millis = st.none() | st.integers(0, 10 * 3600 * 1000).map(lambda ms: ms / 1000)


@st.composite
def conversation_lists(draw: st.DrawFn) -> list[Conversation]:
    ids = draw(st.lists(texts, min_size=1, max_size=4, unique_by=str.casefold))
    convs = []
    for cid in ids:
        n = draw(st.integers(1, 6))
        turns = tuple(Turn(index=i, role=draw(st.sampled_from(["agent", "customer"])),
                           text=draw(texts), start=draw(millis)) for i in range(n))
        convs.append(Conversation(cid, turns, {"domain": "bank"}))
    return convs


def read_back(path: Path) -> tuple[list[Conversation], list[ReadError]]:
    reader = read_conversations(path)
    convs = list(reader)
    return convs, reader.errors


def assert_same(written: Sequence[Conversation], read: Sequence[Conversation], fmt: str) -> None:
    if fmt == "txt":  # one file per conversation: they come back in file-name order
        written, read = sorted(written, key=lambda c: c.id), sorted(read, key=lambda c: c.id)
    assert [c.id for c in read] == [c.id for c in written]
    for w, r in zip(written, read, strict=True):
        assert [(t.index, t.role, t.text) for t in r.turns] == [
            (t.index, t.role, t.text) for t in w.turns]
        for tw, tr in zip(w.turns, r.turns, strict=True):
            assert (tw.start is None) == (tr.start is None)
            if tw.start is not None and tr.start is not None:
                assert math.isclose(tw.start, tr.start, abs_tol=1e-6)
        assert r.metadata["domain"] == "bank"


@pytest.mark.parametrize("fmt", WRITE_FORMATS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(convs=conversation_lists())
def test_write_then_read_is_lossless(fmt: str, convs: list[Conversation]) -> None:
    if fmt == "xlsx":  # XML 1.0 cannot carry U+FFFE/U+FFFF: see the test below
        assume(not any(XML_ILLEGAL.search(x) for c in convs
                       for x in (c.id, *(t.text for t in c.turns))))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / TARGETS[fmt]
        write_conversations(convs, target, format=fmt)
        read, errors = read_back(target)
        assert errors == []
        assert_same(convs, read, fmt)


def test_xlsx_drops_what_xml_cannot_hold(tmp_path: Path) -> None:
    conv = Conversation("x", (Turn(0, "agent", "您\ufffe好\uffff"),), {})
    write_conversations([conv], tmp_path / "c.xlsx")
    read, errors = read_back(tmp_path / "c.xlsx")
    assert errors == [] and read[0].turns[0].text == "您好"


def test_write_infers_the_format_from_the_path(tmp_path: Path) -> None:
    conv = Conversation("a/b", (Turn(0, "agent", "您好", speaker="坐席"),
                                Turn(1, "unknown", "喂", speaker="说话人2")), {"x": 1})
    write_conversations([conv], tmp_path / "out")  # no suffix: a directory of txt files
    [p] = (tmp_path / "out").iterdir()
    assert p.name == "a_b.txt"
    assert p.read_text(encoding="utf-8") == "# id: a/b\n# x: 1\n坐席: 您好\n说话人2: 喂\n"
    write_conversations([conv], tmp_path / "one.txt")
    with pytest.raises(ValueError, match="one conversation"):
        write_conversations([conv, conv], tmp_path / "two.txt")
    with pytest.raises(ValueError, match="pass format="):
        write_conversations([conv], tmp_path / "x.docx")


def test_xlsx_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    conv = Conversation("f", (Turn(0, "agent", "=SUM(A1:A2)"), Turn(1, "customer", "001")))
    write_conversations([conv], tmp_path / "f.xlsx")
    [back] = [r for r in read_file(tmp_path / "f.xlsx") if isinstance(r, Conversation)]
    assert [t.text for t in back.turns] == ["=SUM(A1:A2)", "001"]


# ------------------------------------------------------------------ the demo corpus

needs_demo = pytest.mark.skipif(not any(DEMO.glob("*.txt")), reason="corpora/demo not there yet")


@needs_demo
def test_demo_corpus_reads_cleanly() -> None:
    convs, errors = read_back(DEMO)
    assert [str(e) for e in errors] == []
    assert len(convs) >= 60
    assert len({c.id for c in convs}) == len(convs)
    assert {c.metadata["format"] for c in convs} >= {"txt", "jsonl", "json", "csv", "xlsx"}
    assert not any(Path(c.metadata["source"]).name == "gold.csv" for c in convs)
    for c in convs:
        assert {t.role for t in c.turns} <= {"agent", "customer", "system"}, c.id
        assert "agent" in {t.role for t in c.turns}, c.id


@needs_demo
def test_demo_asr_agent_is_the_speaker_who_greets() -> None:
    convs, _ = read_back(DEMO)
    asr = {c.id: c for c in convs if "role_inference" in c.metadata}
    assert len(asr) >= 5
    for c in asr.values():
        info = c.metadata["role_inference"]
        assert info["method"] == "cues" and info["confidence"] >= 0.9, c.id
        first_agent = next(t for t in c.turns if t.role == "agent")
        assert first_agent.speaker == info["agent_speaker"]
        assert any(g in squash(first_agent.text)[:20] for g in ("您好", "欢迎", "你好")), c.id
    # checked by hand: who greets in these files
    by_hand = {"bank_asr_001": "说话人1", "hosp_asr_001": "说话人2", "hotline_asr_002": "说话人2",
               "tel_asr_001": "SPEAKER_01", "social_asr_001": "SPEAKER_00"}
    for cid, agent in by_hand.items():
        if cid in asr:
            assert asr[cid].metadata["role_inference"]["agent_speaker"] == agent, cid
    # in the callbacks the customer picks up and the agent speaks second
    second = [c for c in asr.values() if c.turns[0].role == "customer"]
    assert second, "expected at least one ASR callback where the agent speaks second"


@needs_demo
@pytest.mark.parametrize("fmt", WRITE_FORMATS)
def test_demo_corpus_round_trips(tmp_path: Path, fmt: str) -> None:
    convs, _ = read_back(DEMO)
    target = tmp_path / TARGETS[fmt]
    write_conversations(convs, target, format=fmt)
    back, errors = read_back(target)
    assert errors == []

    def summary(cs: list[Conversation]) -> list[tuple[str, list[tuple[str, str, float | None]]]]:
        return sorted((c.id, [(t.role, t.text, t.start) for t in c.turns]) for c in cs)

    assert summary(back) == summary(convs)


def test_conversations_pickle_compactly_and_round_trip() -> None:
    """Batch workers receive conversations by pickle: Turn and Conversation reduce to
    their fields, and come back equal."""
    import pickle

    from phrasecheck import read_conversations

    convs = list(read_conversations(Path(__file__).resolve().parent.parent / "corpora" / "demo"))
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        assert pickle.loads(pickle.dumps(convs, protocol=protocol)) == convs
    turn = convs[0].turns[0]
    assert turn.__reduce__()[1] == (turn.index, turn.role, turn.text, turn.start, turn.end,
                                    turn.speaker, turn.line)
