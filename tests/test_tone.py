"""Tone decisions at the deployed base rate, with context (src/phrasecheck/tone.py, the prior
shift and sub-categories of classify.ToneModel). corpora/replies/EVAL.md measures the model;
these tests pin the mechanics with stand-in verdicts and a small model trained here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from phrasecheck import Analyzer
from phrasecheck.tone import THIN_CHARS, content_chars, decide, subcategory_of
from phrasecheck.types import Conversation, ToneResult, Turn

CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "replies"


def tone(label: str, p: float, sub: str | None = None) -> ToneResult:
    rest = (1 - p) / 2
    probs = {"ok": rest, "rude": rest, "evasive": rest, label: p}
    subs = {"ok": probs["ok"], "rude": probs["rude"], "deflect": probs["evasive"] * 0.7,
            "stonewall": probs["evasive"] * 0.3}
    return ToneResult(label, probs, (), sub, subs, label)


def calm_but_rude_at_training_mix() -> ToneResult:
    t = tone("ok", 0.9)
    return ToneResult("ok", t.probabilities, (), None, t.sub_probabilities, "rude")


@pytest.mark.parametrize(("text", "n"), [
    ("有的。", 2), ("嗯嗯，好的呢~", 2), ("随便你", 3), ("您去三号窗口找小刘", 9), ("OK 1", 3),
])
def test_content_chars(text: str, n: int) -> None:
    assert content_chars(text) == n


@pytest.mark.parametrize(("t", "text", "answers", "flagged", "why"), [
    (tone("rude", 0.95), "你自己不会看吗？写得清清楚楚", None, True, ""),
    (tone("rude", 0.85), "你自己不会看吗？写得清清楚楚", None, False, "< 0.9"),
    (tone("rude", 0.95), "随便你", None, False, "too short"),
    (tone("rude", 0.95), "随便你", False, False, "too short"),
    (tone("rude", 0.95), "随便你", True, True, "a short reply to a complaint"),
    (tone("evasive", 0.97, "deflect"), "有的。", False, False, "too short"),
])
def test_decide(t: ToneResult, text: str, answers: bool | None, flagged: bool,
                why: str) -> None:
    d = decide(t, t.label, 0.9, text, answers)
    assert d.flagged is flagged and why in d.reason
    assert content_chars("随便你") <= THIN_CHARS


@pytest.mark.parametrize(("text", "answers", "flagged", "why"), [
    # after a complaint a short reply is judged at the training mix (balanced_label)
    ("随便你", True, True, "at the training mix"),
    ("随便你", False, False, "< 0.9"),
    ("随便你", None, False, "< 0.9"),
    ("你自己去查吧反正我不知道", True, False, "< 0.9"),  # not short: the deployed prior holds
])
def test_decide_short_replies_to_complaints_at_the_training_mix(
        text: str, answers: bool | None, flagged: bool, why: str) -> None:
    d = decide(calm_but_rude_at_training_mix(), "rude", 0.9, text, answers)
    assert d.flagged is flagged and why in d.reason


def test_decide_asks_about_the_complaint_only_when_it_matters() -> None:
    asked: list[str] = []

    def answers() -> bool:
        asked.append("asked")
        return True

    assert decide(tone("rude", 0.95), "rude", 0.9, "你自己不会看吗？写得清清楚楚", answers).flagged
    assert not decide(tone("ok", 0.9), "rude", 0.9, "随便你", answers).flagged
    assert asked == []  # a long reply needs no context, an unlikely one is not flagged
    d = decide(tone("rude", 0.95), "rude", 0.9, "随便你", answers)
    assert d.flagged and asked == ["asked"]


def test_subcategory_of() -> None:
    assert subcategory_of(tone("evasive", 0.9, "stonewall"), "evasive") == "stonewall"
    assert subcategory_of(tone("rude", 0.9, "rude"), "evasive") == "deflect"  # likelier class
    assert subcategory_of(ToneResult("rude", {"rude": 0.9}), "rude") is None  # old model


# --------------------------------------------------------------- a small model, trained here


@pytest.fixture(scope="module")
def small() -> Any:
    from phrasecheck.classify import ToneClassifier, load_replies
    from phrasecheck.classify.corpus import fine_labels

    df = load_replies(CORPUS).sample(2500, random_state=3)
    est = ToneClassifier(cv=3).fit(df["text"].tolist(), fine_labels(df))
    return est.to_model()


def test_model_has_sub_categories_and_a_deployment_prior(small: Any) -> None:
    assert set(small.classes) == {"ok", "rude", "deflect", "stonewall"}
    assert small.labels == ("ok", "rude", "evasive")
    assert small.groups == {"evasive": ("deflect", "stonewall")}
    prior = small.prior
    assert math.isclose(sum(prior["deploy"].values()), 1.0)
    assert prior["deploy"]["ok"] > 0.9 > prior["train"]["ok"]
    [r] = small.predict(["这个不归我们管，你去问社区吧，我们这边不清楚"])
    assert set(r.probabilities) == {"ok", "rude", "evasive"}
    assert math.isclose(sum(r.probabilities.values()), 1.0)
    assert math.isclose(r.probabilities["evasive"],
                        r.sub_probabilities["deflect"] + r.sub_probabilities["stonewall"])
    if r.label == "evasive":
        assert r.subcategory in ("deflect", "stonewall")


def test_the_prior_moves_probabilities_as_bayes_says(small: Any) -> None:
    text = ["亲，这个您自己去页面上操作哈~"]
    [at_train] = small.with_prior(small.prior["train"]).predict(text)
    [deployed] = small.predict(text)
    train, deploy = small.prior["train"], small.prior["deploy"]
    # p_deploy(c) ∝ p_train(c) · deploy(c) / train(c)
    weights = {c: at_train.sub_probabilities[c] * deploy[c] / train[c] for c in small.classes}
    z = sum(weights.values())
    for c in small.classes:
        assert math.isclose(deployed.sub_probabilities[c], weights[c] / z, rel_tol=1e-9)
    assert deployed.balanced_label == at_train.label
    # a prior given per public label splits evasive as in training
    even = small.with_prior({"ok": 0.5, "rude": 0.25, "evasive": 0.25})
    assert math.isclose(even.prior["deploy"]["deflect"] / even.prior["deploy"]["stonewall"],
                        train["deflect"] / train["stonewall"])
    with pytest.raises(ValueError, match="unknown label"):
        small.with_prior({"ok": 0.9, "angry": 0.1})
    with pytest.raises(ValueError, match="no share"):
        small.with_prior({"ok": 0.9, "rude": 0.1})


def test_model_file_round_trip_keeps_groups_and_prior(small: Any, tmp_path: Path) -> None:
    from phrasecheck.classify import load_model

    path = small.with_prior({"ok": 0.9, "rude": 0.05, "evasive": 0.05}).save(tmp_path / "m.json")
    back = load_model(path)
    assert back.groups == small.groups
    assert math.isclose(back.prior["deploy"]["ok"], 0.9)
    texts = ["说了多少遍了，回去等通知", "好的，已经帮您改好了"]
    assert [r.to_dict() for r in back.predict(texts)] == [
        r.to_dict() for r in load_model(path).predict(texts)]


# ------------------------------------------------------------ decisions in the Analyzer


class Fixed:
    """A stand-in model: every text gets the same verdict."""

    def __init__(self, result: ToneResult) -> None:
        self.result = result

    def predict(self, texts: list[str], **_: Any) -> list[ToneResult]:
        return [self.result for _ in texts]


def test_check_text_judges_a_short_reply_with_what_it_answers() -> None:
    a = Analyzer(model=Fixed(tone("rude", 0.97, "rude")), complaint_model=None)
    assert [f.code for f in a.check_text("随便你")] == []  # no context: too little to judge
    assert [f.code for f in a.check_text("随便你", context="有没有停车场？")] == []
    got = a.check_text("随便你", context="我记住你工号了，我要投诉你")
    assert [f.code for f in got] == ["TONE-RUDE"]
    assert "short reply to a complaint" in got[0].explanation
    long = [f for f in a.check_text("你自己不会看吗？写得清清楚楚") if f.source == "classifier"]
    assert [f.code for f in long] == ["TONE-RUDE"] and long[0].subcategory == "rude"


def test_evasive_findings_name_the_sub_category() -> None:
    a = Analyzer(model=Fixed(tone("evasive", 0.95, "deflect")), complaint_model=None)
    [f] = a.check_text("卡在哪个网点开的就回哪个网点问")
    assert (f.code, f.category, f.subcategory) == ("TONE-EVASIVE", "evasive", "deflect")
    assert "推诿" in f.explanation and "首问负责制" in (f.suggestion or "")
    conv = Conversation("c", (Turn(0, "agent", "您好"), Turn(1, "customer", "我卡被冻结了"),
                              Turn(2, "agent", "卡在哪个网点开的就回哪个网点问")))
    sc = a.score(conv)
    [tf] = [f for f in sc.findings if f.source == "classifier"]
    assert tf.subcategory == "deflect" and sc.rule("evasive_reply").outcome == "fail"


def test_score_holds_back_short_replies_unless_they_answer_a_complaint() -> None:
    a = Analyzer(model=Fixed(tone("rude", 0.97, "rude")), complaint_model=None)
    calm = Conversation("c", (Turn(0, "customer", "有没有停车场？"), Turn(1, "agent", "有的。")))
    angry = Conversation("d", (Turn(0, "customer", "我要投诉你们"), Turn(1, "agent", "随便你")))
    assert a.score(calm).rule("rude_reply").outcome == "pass"
    assert a.score(angry).rule("rude_reply").outcome == "fail"
    trace = str(a.test_rule("rude_reply", calm))
    assert "too short to judge" in trace


@pytest.mark.parametrize(("reply", "context", "codes"), [
    ("随便你", "我记住你工号了", ["TONE-RUDE"]),         # a complaint cue: a threat to report
    ("随便你", "我要投诉你们，太不像话了", ["TONE-RUDE"]),
    ("随便你", None, []),                                # nothing to judge it by
    ("随便你", "这两个套餐哪个便宜？", []),
    ("有的。", "有没有停车场？", []),
    ("好的", "你工号多少？下回来我还找你，你讲得最明白。", []),  # a cue, but an ok reply
])
def test_the_shipped_model_judges_short_replies_in_context(
        reply: str, context: str | None, codes: list[str]) -> None:
    got = [f.code for f in shipped_analyzer().check_text(reply, context=context)
           if f.source == "classifier"]
    assert got == codes


_shipped: list[Analyzer] = []


def shipped_analyzer() -> Analyzer:  # one warm analyzer for the table above
    if not _shipped:
        _shipped.append(Analyzer())
    return _shipped[0]


def test_policy_sets_the_deployment_prior(small: Any, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nextends: default\nname: strict\nsettings:\n"
                      "  tone_prior: {ok: 0.8, rude: 0.1, evasive: 0.1}\n", encoding="utf-8")
    a = Analyzer(policy=policy, model=small)
    assert math.isclose(a.model.prior["deploy"]["ok"], 0.8)
    assert math.isclose(Analyzer(model=small).model.prior["deploy"]["ok"],
                        small.prior["deploy"]["ok"])
