"""Complaint events (src/phrasecheck/complaints.py) and the apology_after_complaint rule.

The detector is learned (corpora/customer, corpora/context; corpora/context/EVAL.md measures
it on held-out turns); these tests pin the combination logic with stand-in verdicts, and the
shipped detector on a few hand-written turns far from its decision boundary.
"""

from __future__ import annotations

import pytest

from phrasecheck import Analyzer
from phrasecheck.complaints import CUE_MARK, ComplaintVerdict, detect_complaints
from phrasecheck.types import Conversation, Turn


def conv(*turns: tuple[str, str]) -> Conversation:
    return Conversation("c", tuple(Turn(i, r, t) for i, (r, t) in enumerate(turns)))


@pytest.fixture(scope="module")
def shipped() -> Analyzer:
    a = Analyzer(model=None)
    if a.complaint_model is None:
        pytest.skip("no complaint model in this installation")
    return a


@pytest.fixture(scope="module")
def cues_only() -> Analyzer:
    return Analyzer(model=None, complaint_model=None)


def test_without_a_model_a_cue_is_a_complaint(cues_only: Analyzer) -> None:
    c = conv(("agent", "您好"), ("customer", "我要投诉你们"), ("agent", "请问什么事？"))
    found = cues_only.turn_findings(c)
    [e] = detect_complaints(c.turns, found, None, 0.7)
    assert (e.turn, e.how, e.confidence) == (1, "cue", 1.0)
    assert "我要投诉" in e.explain()


@pytest.mark.parametrize(("p", "expected"), [(0.69, []), (0.7, [1]), (0.95, [1])])
def test_the_model_decides_at_the_threshold(cues_only: Analyzer, p: float,
                                            expected: list[int]) -> None:
    c = conv(("agent", "您好"), ("customer", "我都跑了三趟了"), ("agent", "请问什么事？"))
    found = cues_only.turn_findings(c)
    events = detect_complaints(c.turns, found, lambda i: ComplaintVerdict(p, (("三趟", 1.2),)),
                               0.7)
    assert [e.turn for e in events] == expected
    if events:
        assert events[0].how == "model" and "三趟" in events[0].explain()


def test_a_cue_can_be_outweighed(cues_only: Analyzer) -> None:
    c = conv(("customer", "朋友让我打12345投诉你们，我觉得没必要，就想问问"), ("agent", "好的"))
    found = cues_only.turn_findings(c)
    assert any(f.category == "complaint" for f in found[0])
    assert detect_complaints(c.turns, found, lambda i: ComplaintVerdict(0.2), 0.7) == []


def policy_threshold(analyzer: Analyzer) -> float:
    """The default policy's complaint threshold (chosen by cross-validation, EVAL.md)."""
    return float(analyzer.policy.rule("apology_after_complaint").spec["trigger"]["threshold"])


@pytest.mark.parametrize("text", [
    "我跑了三趟了，一会让我去社区一会让我来这，你们这办事效率太差了！",
    "你们可真行啊，一个证明拖了一个月",
    "再不给我解决我就打12345，再找电视台曝光你们",
    "第三次了啊，你们仓库是闭着眼睛发货的吗？",
])
def test_shipped_detector_finds_implicit_complaints(shipped: Analyzer, text: str) -> None:
    [v] = shipped.complaint_verdicts([text], [False])
    assert v.probability >= policy_threshold(shipped), v


@pytest.mark.parametrize("text", [
    "我想问一下上次投诉的进度，处理得怎么样了",
    "我打电话是想表扬一下你们窗口的小王，服务特别好",
    "请问社保卡补办要带什么材料？",
])
def test_shipped_detector_lets_look_alikes_pass(shipped: Analyzer, text: str) -> None:
    [v] = shipped.complaint_verdicts([text], [False])
    assert v.probability < policy_threshold(shipped), v


def test_apology_rule_uses_the_detector(shipped: Analyzer) -> None:
    c = conv(("agent", "您好，请问办理什么业务？"),
             ("customer", "我跑了三趟了，一会让我去社区一会让我来这，你们这办事效率太差了！"),
             ("agent", "请出示身份证。"), ("customer", "给"), ("agent", "好了。"))
    r = shipped.score(c).rule("apology_after_complaint")
    assert r.outcome == "fail"
    assert "detector P =" in r.evidence[0].note
    ok = conv(*[(t.role, t.text) for t in c.turns[:2]],
              ("agent", "实在抱歉让您多跑了，我这就给您办。"))
    assert shipped.score(ok).rule("apology_after_complaint").outcome == "pass"


def test_warm_builds_the_detectors_batch_tables() -> None:
    """warm() readies the complaint detector as it readies the tone model: its batch
    scorer is built before the first batch (and before workers fork), not after the first
    1,500 customer turns went through the per-text path."""
    a = Analyzer()
    assert a.complaint_model is not None and a.complaint_model._batch is None
    a.warm()
    assert a.complaint_model._batch


def test_lean_verdicts_equal_the_full_results(shipped: Analyzer) -> None:
    texts = ["你们这办事效率太差了！", "我想问一下上次投诉的进度", "好的谢谢", "你们可真行啊",
             "再这样我就打12345了", "嗯", "好的谢谢"] * 3
    cues = [False, True, False, False, False, False, True] * 3
    model = shipped.complaint_model
    got = shipped.complaint_verdicts(texts, cues)
    inputs = [f"{t} {CUE_MARK}" if c else t for t, c in zip(texts, cues, strict=True)]
    for v, r in zip(got, model.predict(inputs), strict=True):
        assert v.probability == r.probabilities["complaint"]
        expected = tuple((n, w) for n, w in r.features if CUE_MARK not in n)
        assert v.features == (expected if r.label == "complaint" else ())
