"""ConversationMonitor for services (issue 16): alerts as dicts with severity and veto flags,
a veto alert the moment a vetoing phrase is said, role validation, a running score, and
export/restore of a live conversation that finalizes to the same score.

Behaviour only; the HTTP service built on this is tested in ``tests/test_serve.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phrasecheck import Analyzer, Turn, read_conversations
from phrasecheck.monitor import (
    ALERT_KINDS,
    STATE_FORMAT,
    Alert,
    ConversationMonitor,
)
from phrasecheck.types import Conversation

HERE = Path(__file__).parent
DEMO = HERE.parent / "corpora" / "demo"


@pytest.fixture(scope="module")
def shared() -> Analyzer:
    return Analyzer().warm()


@pytest.fixture(scope="module")
def hotline() -> Analyzer:
    return Analyzer(policy="hotline").warm()


@pytest.fixture(scope="module")
def demo() -> list[Conversation]:
    return list(read_conversations(DEMO))


def _feed(analyzer: Analyzer, turns: list[tuple[str, str]]
          ) -> tuple[ConversationMonitor, list[list[Alert]]]:
    m = ConversationMonitor(analyzer, "hand")
    return m, [m.add(role, text) for role, text in turns]


# ------------------------------------------------------------------------ veto alerts


@pytest.mark.parametrize("text", [
    "有本事你去投诉",
    "这事我管不了，有本事你去投诉啊！",
    "你要投诉就去投诉，我无所谓。",
])
def test_a_vetoing_phrase_raises_a_veto_alert_at_once(shared: Analyzer, text: str) -> None:
    m, alerts = _feed(shared, [
        ("agent", "您好，请问有什么可以帮您？"),
        ("customer", "你们怎么这么慢，我要投诉你们！"),
        ("agent", text),
    ])
    assert not any(a.veto for turn in alerts[:2] for a in turn)
    veto = [a for a in alerts[2] if a.veto]
    assert [a.kind for a in veto] == ["veto"]
    (a,) = veto
    assert a.rule_id == "abusive_language" and a.severity == "critical" and a.turn == 2
    assert a.findings and all(f.category == "threat" for f in a.findings)
    assert a.suggestion and "一票否决" in a.message
    # the veto alert comes first, the banned-phrase alert for the same words beside it
    assert alerts[2][0] is a and "banned_phrase" in [x.kind for x in alerts[2]]
    final = m.finalize()
    assert final.vetoed and final.rule("abusive_language").veto
    assert m.running_score().settled_vetoed


def test_a_customer_saying_it_raises_no_veto(shared: Analyzer) -> None:
    _, alerts = _feed(shared, [("agent", "您好"), ("customer", "有本事你去投诉？我真会去投诉的。")])
    assert not any(a.veto for turn in alerts for a in turn)


def test_policy_specific_veto_rules_raise_veto_alerts_too() -> None:
    """bank's privacy_leak is a vetoing forbid rule of its own: the same mechanism."""
    bank = Analyzer(policy="bank", model=None)
    rule = bank.policy.rule("privacy_leak")
    assert rule.veto
    entry = next(e for e in bank.lexicon if e.category in rule.spec["categories"]
                 and any(f.category == e.category for f in bank.check_text(e.phrase)))
    _, alerts = _feed(bank, [("agent", "您好"), ("agent", f"嗯，{entry.phrase}。")])
    assert [(a.kind, a.rule_id, a.veto) for a in alerts[1] if a.veto] == [
        ("veto", "privacy_leak", True)]


def test_alert_severity_and_veto_flags(shared: Analyzer) -> None:
    m, alerts = _feed(shared, [
        ("agent", "下一位。"),
        ("customer", "我想办社保卡。"),
        ("agent", "材料带了吗？"),                  # no greeting in two agent turns
        ("customer", "你们怎么这么慢，我要投诉你们！"),
        ("agent", "我帮您查一下。"),                # hold without 请稍等
        ("agent", "查到了，这个不归我们管。"),      # back without thanks; banned phrase
        ("agent", "好的。"),                         # second agent turn after the complaint
    ])
    by_kind = {a.kind: a for turn in alerts for a in turn}
    assert {"missing_greeting", "no_wait", "no_thanks_after_hold", "no_apology",
            "banned_phrase"} <= set(by_kind)
    assert set(by_kind) <= set(ALERT_KINDS)
    for a in by_kind.values():
        assert a.severity in ("minor", "major", "critical")
        assert a.veto is False
    # greeting and apology deduct 10 points, the hold rules 5
    assert by_kind["missing_greeting"].severity == "major"
    assert by_kind["no_apology"].severity == "major"
    assert by_kind["no_wait"].severity == "minor"
    assert by_kind["banned_phrase"].severity in ("minor", "major", "critical")
    assert m.alerts == [a for turn in alerts for a in turn]


def test_alert_to_dict_round_trips_through_json(shared: Analyzer) -> None:
    m, _ = _feed(shared, [("agent", "喂？"), ("agent", "这个不归我们管，有本事你去投诉")])
    assert m.alerts
    for a in m.alerts:
        d = a.to_dict()
        assert set(d) == {"kind", "rule_id", "turn", "message", "findings", "suggestion",
                          "severity", "veto"}
        assert all(isinstance(f, dict) for f in d["findings"])
        assert Alert.from_dict(json.loads(json.dumps(d, ensure_ascii=False))) == a


# ---------------------------------------------------------------------- role validation


@pytest.mark.parametrize("role", ["agnet", "Agent", "坐席", "", "客户"])
def test_unknown_roles_are_an_error(shared: Analyzer, role: str) -> None:
    m = ConversationMonitor(shared)
    with pytest.raises(ValueError, match=r"unknown role .*agent, customer, system, unknown"):
        m.add(role, "您好")
    with pytest.raises(ValueError, match="unknown role"):
        m.add(Turn(0, role, "您好"))
    assert m.turns == [] and m.alerts == []


@pytest.mark.parametrize("role", ["agent", "customer", "system", "unknown"])
def test_known_roles_are_accepted(shared: Analyzer, role: str) -> None:
    m = ConversationMonitor(shared)
    m.add(role, "您好，请稍等")
    assert m.turns[0].role == role


def test_text_must_be_a_string(shared: Analyzer) -> None:
    m = ConversationMonitor(shared)
    with pytest.raises(TypeError, match="str"):
        m.add("agent", 42)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ turn findings


def test_turn_findings_equal_check_text(shared: Analyzer, demo: list[Conversation]) -> None:
    for c in demo[:25]:
        m = ConversationMonitor(shared, c.id)
        for t in c.turns:
            m.add(t.role, t.text)
            got = [f.to_dict() for f in m.turn_findings()]
            want = [f.to_dict() for f in shared.check_text(t.text, t.role, turn=t.index)]
            assert got == want, (c.id, t.index)


# ------------------------------------------------------------------------ running score


def test_running_score_keeps_open_rules_pending(hotline: Analyzer) -> None:
    m = ConversationMonitor(hotline, "live")
    m.add("agent", "您好，12345热线，工号1024为您服务。")
    m.add("customer", "你们怎么回事，我要投诉！")
    r = m.running_score()
    # the farewell is expected in the last agent turns: nobody knows which ones yet
    assert "closing" in r.pending
    assert "apology_after_complaint" in r.pending  # the agent has not answered yet
    assert "greeting" not in r.pending and "identify" not in r.pending
    assert r.score.rule("closing").passed is False  # as if the call ended now
    assert r.settled > r.score.score
    m.add("agent", "非常抱歉给您带来不便，我马上为您处理。")
    r = m.running_score()
    assert "apology_after_complaint" not in r.pending
    assert r.score.rule("apology_after_complaint").passed is True
    m.add("agent", "感谢您的来电，再见。")
    r = m.running_score()
    assert r.score.to_dict() == m.finalize().to_dict()
    assert r.score.rule("closing").passed is True
    assert r.settled_grade and isinstance(r.to_dict()["score"], dict)


def test_running_score_settles_a_missing_greeting_once_its_window_has_passed(
        shared: Analyzer) -> None:
    m = ConversationMonitor(shared, "live")
    m.add("agent", "下一位。")
    assert "greeting" in m.running_score().pending      # the 2nd agent turn may still greet
    m.add("agent", "什么事？")
    r = m.running_score()
    assert "greeting" not in r.pending and r.score.rule("greeting").passed is False
    assert r.settled <= 90


def test_running_score_at_the_end_is_the_final_score(shared: Analyzer,
                                                     demo: list[Conversation]) -> None:
    for c in demo[:10]:
        m = ConversationMonitor(shared, c.id, c.metadata)
        for t in c.turns:
            m.add(t)
        assert m.running_score().score.to_dict() == shared.score(c).to_dict()


# --------------------------------------------------------------------- export / restore


def _split_run(analyzer: Analyzer, restored_with: Analyzer, c: Conversation, k: int
               ) -> tuple[ConversationMonitor, list[Alert]]:
    first = ConversationMonitor(analyzer, c.id, c.metadata)
    for t in c.turns[:k]:
        first.add(t)
    state = json.loads(json.dumps(first.export_state(), ensure_ascii=False))
    second = ConversationMonitor.restore(restored_with, state)
    later = [a for t in c.turns[k:] for a in second.add(t)]
    return second, later


def test_export_restore_finalizes_to_the_batch_score(
        shared: Analyzer, demo: list[Conversation]) -> None:
    """Every demo conversation, cut in three places, carried over as JSON to another
    Analyzer (as another process would), scores exactly as the batch path does, and the
    alerts after the cut are those one uninterrupted monitor raises."""
    other = Analyzer().warm()
    for c in demo:
        whole = ConversationMonitor(shared, c.id, c.metadata)
        alerts = [[a.to_dict() for a in whole.add(t)] for t in c.turns]
        expected = shared.score(c).to_dict()
        n = len(c.turns)
        for k in sorted({1, n // 2, n - 1}):
            m, later = _split_run(shared, other, c, k)
            assert m.finalize().to_dict() == expected, (c.id, k)
            assert [a.to_dict() for a in later] == [a for turn in alerts[k:] for a in turn]
            assert [a.to_dict() for a in m.alerts] == [a for turn in alerts for a in turn]
            assert m.conversation.turns == c.turns


class _NoModel:
    """A model that must not be asked: restored verdicts are to be used as they are."""

    def predict(self, texts: list[str]) -> list[Any]:
        raise AssertionError(f"classified again: {texts[:1]}")


def test_restore_uses_the_exported_tone_verdicts(shared: Analyzer,
                                                 demo: list[Conversation]) -> None:
    if shared.model is None:
        pytest.skip("no bundled reply-tone model")
    blind = Analyzer(model=_NoModel())
    done = 0
    for c in demo:
        m = ConversationMonitor(shared, c.id, c.metadata)
        for t in c.turns:
            m.add(t)
        state = json.loads(json.dumps(m.export_state()))
        assert len(state["tones"]) == sum(1 for t in c.turns
                                          if t.role == "agent" and t.text.strip())
        back = ConversationMonitor.restore(blind, state)
        assert back.finalize().to_dict() == shared.score(c).to_dict(), c.id
        done += 1
    assert done >= 40


def test_restore_uses_the_exported_complaint_verdicts(shared: Analyzer,
                                                       demo: list[Conversation]) -> None:
    """The learned complaint detector's verdicts travel too: a restored monitor whose
    detector must not be asked finalizes to the batch score."""
    if shared.complaint_model is None:
        pytest.skip("no bundled complaint model")
    blind = Analyzer(model=_NoModel(), complaint_model=_NoModel())
    with_complaints = 0
    for c in demo:
        m = ConversationMonitor(shared, c.id, c.metadata)
        for t in c.turns:
            m.add(t)
        state = json.loads(json.dumps(m.export_state()))
        assert len(state["complaints"]) == sum(1 for t in c.turns
                                               if t.role == "customer" and t.text.strip())
        with_complaints += bool(state["complaints"])
        back = ConversationMonitor.restore(blind, state)
        assert back.finalize().to_dict() == shared.score(c).to_dict(), c.id
    assert with_complaints >= 20


def test_restored_verdicts_are_kept_even_if_the_model_would_now_differ(
        shared: Analyzer) -> None:
    """The verdict behind an alert stays with the conversation (a model upgrade between
    two instances does not rewrite what was already judged)."""
    if shared.model is None:
        pytest.skip("no bundled reply-tone model")
    m = ConversationMonitor(shared, "x")
    m.add("agent", "您好")
    m.add("agent", "不知道，你自己去问吧")
    state = m.export_state()
    for d in state["tones"].values():
        d["label"], d["probabilities"] = "ok", {"ok": 1.0, "rude": 0.0, "evasive": 0.0}
    back = ConversationMonitor.restore(shared, state)
    assert back.finalize().rule("evasive_reply").passed is True
    assert back.finalize().rule("rude_reply").passed is True


def test_export_state_is_plain_json(shared: Analyzer) -> None:
    m = ConversationMonitor(shared, "会话-1", {"channel": "chat"})
    m.add("agent", "您好，请稍等", start=0.0, end=1.5, speaker="坐席A")
    state = m.export_state()
    assert state["format"] == STATE_FORMAT and state["policy"] == "default"
    assert json.loads(json.dumps(state)) == state
    assert state["turns"] == [{"role": "agent", "text": "您好，请稍等", "start": 0.0, "end": 1.5,
                               "speaker": "坐席A", "line": None}]


def test_the_alerts_language_travels_with_the_state(shared: Analyzer) -> None:
    m = ConversationMonitor(shared, "en", lang="en")
    m.add("agent", "喂？")
    state = json.loads(json.dumps(m.export_state()))
    assert state["lang"] == "en"
    back = ConversationMonitor.restore(shared, state)
    (alert,) = [a for a in back.add("agent", "有什么事？") if a.kind == "missing_greeting"]
    zh = ConversationMonitor(shared, "zh")
    zh.add("agent", "喂？")
    (zh_alert,) = [a for a in zh.add("agent", "有什么事？") if a.kind == "missing_greeting"]
    assert alert.message != zh_alert.message and alert.message.isascii()
    # asked for, another language wins
    again = ConversationMonitor.restore(shared, state, lang="zh")
    assert [a.message for a in again.add("agent", "有什么事？")
            if a.kind == "missing_greeting"] == [zh_alert.message]


def test_restore_refuses_another_policy(shared: Analyzer, hotline: Analyzer) -> None:
    m = ConversationMonitor(shared)
    m.add("agent", "您好")
    with pytest.raises(ValueError, match=r"policy 'default'.*'hotline'"):
        ConversationMonitor.restore(hotline, m.export_state())


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.update(format="something/2"), "format"),
    (lambda s: s.pop("turns"), "missing field 'turns'"),
    (lambda s: s["turns"].append({"role": "boss", "text": "x"}), "unknown role 'boss'"),
    (lambda s: s["turns"].append({"role": "agent", "text": 3}), "not a string"),
    (lambda s: s["turns"].append({"role": "agent", "text": "x", "start": "soon"}),
     "not a number"),
    (lambda s: s["tones"].update({"99": {"label": "ok", "probabilities": {}}}),
     "does not exist"),
    (lambda s: s["monitor"].update(open_complaints=[["a", 1]]), "malformed"),
])
def test_restore_rejects_malformed_state(shared: Analyzer, mutate: Any, message: str) -> None:
    m = ConversationMonitor(shared)
    m.add("agent", "您好")
    state = json.loads(json.dumps(m.export_state()))
    mutate(state)
    with pytest.raises(ValueError, match=message):
        ConversationMonitor.restore(shared, state)
