"""Chinese-first text: every rule message and evidence note the rules write has a Chinese
rendering, labels exist in both languages, alerts speak Chinese by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from phrasecheck import Analyzer, ConversationMonitor, read_conversations
from phrasecheck.i18n import (
    _ALERTS,
    _TEXT,
    LANGS,
    column_label,
    evidence_note,
    grade_label,
    labels,
    rule_message,
    translated,
    value_from_label,
    value_label,
)
from phrasecheck.types import Conversation, Turn

DEMO = Path(__file__).resolve().parents[1] / "corpora" / "demo"


def _conversations() -> list[Conversation]:
    """Hand-made conversations that drive each rule kind to each outcome."""
    return [
        Conversation("no-agent", (Turn(0, "customer", "喂？有人吗"),)),
        Conversation("rude", (
            Turn(0, "agent", "你烦不烦啊，说了多少遍了"),
            Turn(1, "customer", "我要投诉你们！太慢了"),
            Turn(2, "agent", "不归我管，你找别人去"),
        )),
        Conversation("good", (
            Turn(0, "agent", "您好，请问有什么可以帮您？"),
            Turn(1, "customer", "我要投诉，等了半天了"),
            Turn(2, "agent", "非常抱歉让您久等了，请稍等，我帮您查一下"),
            Turn(3, "agent", "感谢您的耐心等待，已经办好了，再见"),
        )),
        Conversation("silence", (
            Turn(0, "agent", "您好，我帮您查一下", 0.0, 2.0),
            Turn(1, "agent", "查到了，再见", 60.0, 62.0),
        )),
    ]


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, str]]:
    """(kind, text) of every message, note and tone explanation the rules wrote."""
    analyzer = Analyzer(policy="hotline")
    convs = _conversations() + list(read_conversations(DEMO))
    out = []
    for sc in analyzer.score_many(convs):
        for r in sc.rule_results:
            out.append(("message", r.message))
            out += [("note", e.note) for e in r.evidence]
        out += [("note", f.explanation) for f in sc.findings
                if f.source == "classifier" and f.explanation]
    return out


def test_every_rule_message_and_note_has_chinese(messages: list[tuple[str, str]]) -> None:
    kinds = {k for k, _ in messages}
    assert kinds == {"message", "note"}
    missing = sorted({t for _, t in messages if t and not translated(t)})
    assert missing == []
    for kind, text in messages:
        zh = rule_message(text) if kind == "message" else evidence_note(text)
        assert zh and "turn" not in zh and "phrase" not in zh and "expected" not in zh, text


@pytest.mark.parametrize(("text", "expected"), [
    ("expected a greeting/phone_answer phrase in the first 2 agent turns",
     "前 2 个坐席话轮中没有问候语/接听用语"),
    ("2 banned phrase(s): 不知道、找别人", "2 处服务忌语：不知道、找别人"),
    ("1 rude repl(ies)", "1 句回复被语气模型判为生硬粗鲁"),
    ("every trigger answered", "每次触发都已回应"),
    ("all of 2 conditions: not met", "2 个条件全部满足：不满足"),
    ("something new", "something new"),  # no pattern: shown as it is
])
def test_rule_messages(text: str, expected: str) -> None:
    titles = {"greeting": "问候语", "phone_answer": "接听用语"}
    assert rule_message(text, "zh", lambda c: titles.get(c, c)) == expected
    assert rule_message(text, "en") == text


def test_evidence_notes() -> None:
    assert evidence_note("deflect (major) BAN-001; say instead: 我帮您转", "zh",
                         lambda c: "推诿") == "推诿（严重）BAN-001"
    # the suggestion is shown once, with the finding, in English too
    assert evidence_note("deflect (major) BAN-001; say instead: 我帮您转", "en") == (
        "deflect (major) BAN-001")
    assert evidence_note("turn 3: 45s silence before turn 4; expected wait in the 1 agent "
                         "turn(s) before it") == (
        "第 3 轮：第 4 轮前静默 45 秒；之前 1 个坐席话轮中应有wait")
    assert evidence_note("reply-tone classifier: P(evasive) = 0.81; cues: 不清楚、问别人 "
                         "(rule evasive_reply)") == (
        "语气模型：P(推诿搪塞) = 0.81；线索：不清楚、问别人（规则 evasive_reply）")


def test_labels_in_both_languages() -> None:
    for key, (zh, en) in _TEXT.items():
        assert zh and en, key
        assert labels("zh")[key] == zh and getattr(labels("en"), key) == en
    assert set(LANGS) == {"zh", "en"}
    with pytest.raises(ValueError, match="available: zh, en"):
        labels("fr")
    with pytest.raises(AttributeError):
        labels("zh").no_such_label  # noqa: B018


def test_values_and_columns() -> None:
    assert value_label("outcome", "fail") == "未通过"
    assert value_label("outcome", "fail", "en") == "fail"
    assert value_label("verdict", "false_positive") == "误报"
    for text in ("误报", "false alarm", "False_Positive", "false_positive"):
        assert value_from_label("verdict", text) == "false_positive"
    assert value_from_label("verdict", "maybe") is None
    assert grade_label("不合格") == "不合格" and grade_label("不合格", "en") == "fail"
    assert column_label("score") == "分数" and column_label("score", "en") == "Score"
    assert column_label("rule_greeting", "zh", {"greeting": "开场问候"}) == "开场问候（greeting）"
    assert column_label("no_such_column") == "no_such_column"


def test_alerts_speak_chinese_by_default() -> None:
    analyzer = Analyzer(model=None)
    zh = ConversationMonitor(analyzer).add("agent", "你好烦啊，不归我管")
    en = ConversationMonitor(analyzer, lang="en").add("agent", "你好烦啊，不归我管")
    assert zh[0].message.startswith("服务忌语")
    assert en[0].message.startswith("banned phrase")
    assert set(_ALERTS) == {"banned_phrase", "veto", "tone", "missing_greeting", "no_apology",
                            "no_thanks_after_hold", "no_wait"}
    with pytest.raises(ValueError):
        ConversationMonitor(analyzer, lang="de")
