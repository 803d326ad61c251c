"""Undiarised (mono-channel) transcripts: reading, splitting and roles (src/phrasecheck/diarize.py).

How well roles are inferred is measured on held-out calls in corpora/context/EVAL.md; these
tests pin the invariants: every non-space character lands in exactly one turn, in order; the
reader takes txt, JSONL and CSV input without speaker labels; ``layout`` forces either way;
what was inferred is recorded; a huge single line is read in bounded memory or refused clearly.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrasecheck import Analyzer, read_conversations
from phrasecheck.diarize import diarize, split_pieces, units
from phrasecheck.readers import read_file

ROOT = Path(__file__).resolve().parent.parent
CALL = ("您好 这里是幺二三四五热线 请问有什么可以帮您 喂 你好 我想问一下 社保卡丢了怎么补办 "
        "好的 补办社保卡需要带身份证 到就近的银行网点办理 当天就能拿到 哦 那要钱吗 "
        "工本费是免费的 还有其他可以帮您的吗 没有了 谢谢 感谢您的来电 再见")


def _content(text: str) -> str:
    return re.sub(r"\s", "", text)


@pytest.mark.parametrize(("chunks", "expected"), [
    (["您好 这里是热线，请问 有什么可以帮您？我想问"],
     [("您好", "start"), ("这里是热线，", "space"), ("请问", "punct"),
      ("有什么可以帮您？", "space"), ("我想问", "punct")]),
    (["嗯 好的，， 谢谢", "再见"],
     [("嗯", "start"), ("好的，，", "space"), ("谢谢", "punct"), ("再见", "line")]),
    (["  ", "，好"], [("，好", "start")]),
])
def test_pieces(chunks: list[str], expected: list[tuple[str, str]]) -> None:
    got = [(chunks[p.chunk][p.start:p.end], p.before) for p in split_pieces(chunks)]
    assert got == expected


def test_long_glued_text_is_cut_at_word_boundaries() -> None:
    import rjieba

    text = "您好这里是社保中心请问有什么可以帮您我想问一下社保卡怎么补办"
    pieces = units([text], rjieba.cut)
    assert len(pieces) > 5 and all(p.before in ("start", "glued") for p in pieces)
    assert "".join(text[p.start:p.end] for p in pieces) == text


def test_a_call_is_split_into_alternating_turns() -> None:
    turns = diarize([CALL])
    assert [t.role for t in turns][:2] == ["agent", "customer"]
    assert all(a.role != b.role for a, b in itertools.pairwise(turns))
    assert _content("".join(t.text for t in turns)) == _content(CALL)
    assert all(0.0 <= t.confidence <= 1.0 for t in turns)
    assert turns[-1].role == "agent" and "再见" in turns[-1].text


def test_change_bias_is_read_checked_and_moves_the_cuts() -> None:
    from phrasecheck.diarize import DiarizeModel, default_diarize_model
    from phrasecheck.errors import ModelError

    shipped = default_diarize_model()
    assert shipped.change_bias == shipped.spec["tagger"]["change_bias"] > 0
    spec = json.loads(json.dumps(shipped.spec))
    counts = {}
    for bias in (-1e6, -20.0, 0.0, 20.0):
        spec["tagger"]["change_bias"] = bias
        counts[bias] = len(diarize([CALL], DiarizeModel(spec)))
    # against speaker changes: fewer turns than without a bias (-20 still lets the greeting be
    # the agent's), and one turn when a change costs more than any evidence can pay (every
    # change begins a stretch: the BIES tagger cannot change roles any other way); strongly
    # for changes: more turns
    assert counts[-1e6] == 1 and counts[-20.0] <= 2
    assert counts[-20.0] < counts[0.0] < counts[20.0]
    spec["tagger"]["change_bias"] = float("nan")
    with pytest.raises(ModelError, match="malformed tagger weights"):
        DiarizeModel(spec)
    del spec["tagger"]["change_bias"]  # models written before the bias: no bias
    assert DiarizeModel(spec).change_bias == 0.0


@pytest.mark.parametrize(("a", "b", "ok"), [
    ("agent-B", "agent-I", True), ("agent-B", "agent-E", True), ("agent-I", "agent-I", True),
    ("agent-B", "customer-B", False),  # a change must end the stretch first
    ("agent-I", "customer-S", False), ("agent-B", "agent-B", False), ("agent-I", "agent-S", False),
    ("agent-E", "customer-B", True), ("agent-E", "customer-S", True),
    ("agent-S", "customer-B", True), ("customer-S", "agent-S", True),
    ("agent-E", "agent-B", False),  # a same-role restart would only collect the change bias
    ("customer-S", "customer-S", False), ("customer-E", "agent-I", False),
    ("customer-E", "agent-E", False),
])
def test_bies_transitions(a: str, b: str, ok: bool) -> None:
    from phrasecheck.diarize import _allowed

    assert _allowed(a, b) is ok


def _random_tagger(seed: int, decode: str) -> object:
    import random

    from phrasecheck.diarize import LABELS_BIES, DiarizeModel, default_diarize_model

    rng = random.Random(seed)
    spec = dict(default_diarize_model().spec)  # a shallow copy: only the tagger is replaced
    spec["tagger"] = {"labels": list(LABELS_BIES), "decode": decode,
                      "change_bias": rng.uniform(-3, 3),
                      "state": {f"f{k}": [rng.uniform(-4, 4) for _ in LABELS_BIES]
                                for k in range(6)},
                      # random weights on every transition, the impossible ones too: the
                      # structure must hold whatever the weights say
                      "transitions": [[rng.uniform(-4, 4) for _ in LABELS_BIES]
                                      for _ in LABELS_BIES]}
    return DiarizeModel(spec)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["viterbi", "posterior"]),
       st.lists(st.lists(st.sampled_from([f"f{k}" for k in range(6)]), max_size=3),
                min_size=1, max_size=12))
def test_bies_tagger_keeps_its_structure(seed: int, decode: str, feats: list[list[str]]
                                         ) -> None:
    from phrasecheck.diarize import LABELS_BIES, _allowed

    model = _random_tagger(seed, decode)
    path, marg = model.tag(feats)  # type: ignore[attr-defined]
    labels = [LABELS_BIES[y] for y in path]
    for m in marg:  # marginals of a proper distribution over the allowed paths
        assert sum(m) == pytest.approx(1.0) and min(m) >= 0.0
    p_agent = [model.p_agent(m) for m in marg]  # type: ignore[attr-defined]
    if decode == "viterbi":  # the best path is a possible one
        assert labels[0][-1] in "BS" and labels[-1][-1] in "ES"
        assert all(_allowed(a, b) for a, b in itertools.pairwise(labels))
    else:  # each piece's likelier role
        assert all(model.is_agent(y) == (p >= 0.5) for y, p in  # type: ignore[attr-defined]
                   zip(path, p_agent, strict=True))
    # marginals put no weight on labels no possible path has there
    assert marg[0][LABELS_BIES.index("agent-I")] == 0.0
    assert marg[-1][LABELS_BIES.index("customer-B")] == 0.0


@pytest.mark.parametrize(("chunks", "density"), [
    (["您 好 请问 有 什么 可以 帮 您"], 0),  # a space between every word: 1.7 per piece
    (["您好 请问有什么 可以帮您 我想问一下"], 2),  # pauses inside clauses: 4 per piece
    (["您好，请问有什么可以帮您，我想问一下社保卡的事"], 3),  # ASR commas at clauses: 7.7
    (["您好请问有什么可以帮您我想问一下社保卡怎么补办"], 4),  # glued: one piece, cut by jieba
])
def test_density_counts_pause_cut_pieces(chunks: list[str], density: int) -> None:
    import rjieba

    from phrasecheck.diarize import _density, _is_space, _slice

    pieces = units(chunks, rjieba.cut)
    texts = ["".join(ch for ch in _slice(chunks, p, p) if not _is_space(ch)) for p in pieces]
    assert _density(texts, [p.before for p in pieces]) == density


def test_four_label_models_still_load_and_decode() -> None:
    """Models written before the BIES labels (agent/customer, B/I) decode as they did: every
    transition allowed, no first or last label ruled out."""
    from phrasecheck.diarize import LABELS, DiarizeModel, default_diarize_model

    spec = dict(default_diarize_model().spec)
    spec["tagger"] = {"labels": list(LABELS), "decode": "viterbi", "change_bias": 0.0,
                      "state": {"a": [0.0, 0.0, 5.0, 0.0], "c": [5.0, 0.0, 0.0, 0.0]},
                      "transitions": [[0.0] * 4 for _ in LABELS]}
    model = DiarizeModel(spec)
    # a customer-B straight after agent-B: a BIES tagger could not, a BI one may
    path, marg = model.tag([["c"], ["a"], ["c"]])
    assert path == [0, 2, 0]
    assert [model.is_agent(y) for y in path] == [True, False, True]
    assert all(sum(m) == pytest.approx(1.0) for m in marg)


def test_tagger_labels_are_checked() -> None:
    from phrasecheck.diarize import DiarizeModel, default_diarize_model
    from phrasecheck.errors import ModelError

    spec = json.loads(json.dumps(default_diarize_model().spec))
    assert spec["tagger"]["labels"][2] == "agent-E"  # the shipped tagger marks stretch ends
    spec["tagger"]["labels"] = ["agent-B", "customer-B"]
    with pytest.raises(ModelError, match=r"tagger labels must be one of .*agent-S"):
        DiarizeModel(spec)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="您好请问我想办社保卡谢谢再见嗯 ，。？ab1", max_size=40),
                min_size=1, max_size=4))
def test_every_character_lands_in_one_turn_in_order(chunks: list[str]) -> None:
    turns = diarize(chunks)
    assert _content("".join(t.text for t in turns)) == _content("".join(chunks))
    for t in turns:
        assert t.role in ("agent", "customer") and t.text.strip()


def test_txt_without_speaker_labels_is_read_as_mono(tmp_path: Path) -> None:
    path = tmp_path / "call.txt"
    path.write_text(CALL[:60] + "\n" + CALL[60:] + "\n", encoding="utf-8")
    [conv] = list(read_conversations(path))
    assert conv.metadata["layout"] == "mono"
    inference = conv.metadata["role_inference"]
    assert inference["method"] == "mono-crf" and 0 < inference["confidence"] <= 1
    assert len(conv.metadata["role_confidence"]) == len(conv.turns)
    assert {t.line for t in conv.turns} == {1, 2}
    assert _content("".join(t.text for t in conv.turns)) == _content(CALL)
    score = Analyzer(model=None).score(conv)
    assert score.rule("greeting").passed and score.rule("closing").passed


def test_layout_labelled_refuses_and_mono_forces(tmp_path: Path) -> None:
    path = tmp_path / "call.txt"
    path.write_text(CALL + "\n", encoding="utf-8")
    convs = [c for c in read_file(path, layout="labelled") if hasattr(c, "turns")]
    errors = [e for e in read_file(path, layout="labelled") if not hasattr(e, "turns")]
    assert convs == [] and errors[0].reason == "no speaker prefix"
    labelled = tmp_path / "labelled.txt"
    labelled.write_text("坐席：您好 请问有什么可以帮您\n客户：我想问一下社保卡\n", encoding="utf-8")
    [conv] = [c for c in read_file(labelled, layout="mono") if hasattr(c, "turns")]
    assert conv.metadata["layout"] == "mono"  # the labels are read as words
    with pytest.raises(ValueError, match="layout"):
        read_file(path, layout="stereo")


def test_jsonl_and_csv_without_roles(tmp_path: Path) -> None:
    jl = tmp_path / "calls.jsonl"
    jl.write_text("\n".join(json.dumps({"conversation_id": "m1", "text": part}, ensure_ascii=False)
                            for part in (CALL[:50], CALL[50:])) + "\n"
                  + json.dumps({"conversation_id": "l1", "role": "agent", "text": "您好"},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    convs = {c.id: c for c in read_conversations(jl)}
    assert convs["m1"].metadata["layout"] == "mono" and len(convs["m1"].turns) > 2
    assert "layout" not in convs["l1"].metadata
    csv = tmp_path / "calls.csv"
    csv.write_text("conversation_id,text\nm2," + CALL + "\n", encoding="utf-8")
    [conv] = list(read_conversations(csv))
    assert conv.metadata["layout"] == "mono"


def test_mono_calls_corpus_reads_and_builds() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "corpora" / "calls" / "build.py"),
                          "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    reader = read_conversations(ROOT / "corpora" / "calls" / "txt")
    convs = list(reader)
    assert not reader.errors and len(convs) >= 48
    assert all(c.metadata["layout"] == "mono" for c in convs)


LONG = """
import resource, sys, time
from phrasecheck.readers import read_file
sys.setrecursionlimit(10000)
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
path, n = sys.argv[1], 0
t = time.time()
for r in read_file(path, max_chars=3_000_000):
    n += 1
    print(type(r).__name__, getattr(r, "reason", len(getattr(r, "turns", ()))))
print("seconds", round(time.time() - t, 1))
"""


@pytest.mark.slow
def test_two_million_character_line_in_bounded_memory(tmp_path: Path) -> None:
    unit = CALL + " "
    path = tmp_path / "huge.txt"
    path.write_text(unit * (2_000_000 // len(unit) + 1) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", LONG, str(path)], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    first = out.stdout.splitlines()[0]
    assert first.startswith("Conversation") and int(first.split()[1]) > 10_000


def test_longer_than_the_limit_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text((CALL + " ") * 20 + "\n", encoding="utf-8")
    err = next(iter(read_file(path, max_chars=1000)))
    assert "more than 1,000 characters" in err.reason and "--max-chars" in err.reason
    several = tmp_path / "lines.txt"
    several.write_text("\n".join([CALL] * 20) + "\n", encoding="utf-8")
    [err] = list(read_file(several, max_chars=1000))
    assert err.reason.startswith("undiarised transcript too long") and err.line is not None
