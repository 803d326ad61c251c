"""Speaker-role inference: which diarised speaker is the agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phrasecheck.readers import infer_agent, read_file
from phrasecheck.readers.roles import assign_roles, speaker_key, squash
from phrasecheck.types import Conversation, ReadError

# ASR output: no punctuation, spaces between words.
AGENT_FIRST = """\
说话人1：您好 这里 是 12345 热线 请问 有 什么 可以 帮 您
说话人2：喂 你好 我 想 问 一下 我 家 楼下 路灯 坏 了 找 谁
说话人1：好 的 请 您 稍等 我 帮 您 查 一下
说话人2：嗯 好
说话人1：感谢 您 的 耐心 等待 这个 我 帮 您 登记 还有 什么 可以 帮 您
说话人2：没 了 谢谢
"""
# A callback: the customer picks up first, the agent speaks second.
AGENT_SECOND = """\
SPEAKER_00：喂 哪位
SPEAKER_01：您好 我 是 市 第一 医院 随访 中心 的 工作 人员 工号 2031 请问 是 王 先生 吗
SPEAKER_00：对 是 我 什么 事
SPEAKER_01：您 上周 出院 我们 做 个 回访 请问 您 现在 恢复 得 怎么样
SPEAKER_00：还 行 吧 就是 伤口 有点 痒
SPEAKER_01：好 的 祝 您 早日 康复 再见
"""
# The customer talks first AND at length about their card; the agent only helps.
CUSTOMER_OPENS = """\
A：喂 我 的 卡 被 吞 了 我 要 投诉 你们 怎么 回事
B：您好 很 高兴 为 您 服务 请 您 不要 着急 请问 您 的 卡号 是 多少
A：6222 开头 的
B：请 稍等 我 帮 您 核实 一下
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def one(path: Path, **options: Any) -> Conversation:
    results = list(read_file(path, **options))
    errors = [r for r in results if isinstance(r, ReadError)]
    assert errors == []
    [conv] = results
    assert isinstance(conv, Conversation)
    return conv


@pytest.mark.parametrize(("text", "agent", "agent_roles"), [
    (AGENT_FIRST, "说话人1", ["agent", "customer", "agent", "customer", "agent", "customer"]),
    (AGENT_SECOND, "SPEAKER_01", ["customer", "agent"] * 3),
    (CUSTOMER_OPENS, "B", ["customer", "agent"] * 2),
])
def test_inference_on_asr_transcripts(tmp_path: Path, text: str, agent: str,
                                      agent_roles: list[str]) -> None:
    conv = one(write(tmp_path, "asr.txt", text))
    info = conv.metadata["role_inference"]
    assert info["agent_speaker"] == agent
    assert info["method"] == "cues"
    assert 0.8 < info["confidence"] <= 1.0
    assert set(info["scores"]) == {t.speaker for t in conv.turns}
    assert [t.role for t in conv.turns] == agent_roles
    assert all(t.speaker for t in conv.turns)  # labels kept


def test_no_cues_falls_back_to_the_first_speaker(tmp_path: Path) -> None:
    conv = one(write(tmp_path, "n.txt", "甲：今天天气不错\n乙：是啊\n甲：走吧\n"))
    assert conv.metadata["role_inference"] == {
        "agent_speaker": "甲", "scores": {"甲": 0.0, "乙": 0.0}, "confidence": 0.5,
        "method": "first_speaker"}
    assert [t.role for t in conv.turns] == ["agent", "customer", "agent"]


@pytest.mark.parametrize("override", [{"说话人2": "agent"}, {"说话人 2": "坐席"},
                                      {"说话人1": "customer", "说话人2": "agent"}])
def test_override(tmp_path: Path, override: dict[str, str]) -> None:
    conv = one(write(tmp_path, "o.txt", AGENT_FIRST), speaker_roles=override)
    assert conv.metadata["role_inference"]["method"] == "override"
    assert conv.metadata["role_inference"]["agent_speaker"] == "说话人2"
    assert conv.metadata["role_inference"]["confidence"] == 1.0
    assert [t.role for t in conv.turns][:2] == ["customer", "agent"]


def test_override_of_the_customer_only_infers_the_rest(tmp_path: Path) -> None:
    conv = one(write(tmp_path, "o.txt", AGENT_SECOND), speaker_roles={"SPEAKER_00": "customer"})
    assert [t.role for t in conv.turns][:2] == ["customer", "agent"]
    assert conv.metadata["role_inference"]["agent_speaker"] == "SPEAKER_01"


def test_bad_override_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speaker_roles"):
        read_file(write(tmp_path, "o.txt", AGENT_FIRST), speaker_roles={"说话人1": "boss"})


def test_infer_roles_false_leaves_unknown(tmp_path: Path) -> None:
    conv = one(write(tmp_path, "x.txt", AGENT_FIRST), infer_roles=False)
    assert {t.role for t in conv.turns} == {"unknown"}
    assert "role_inference" not in conv.metadata


def test_aliased_agent_makes_labelled_speakers_customers(tmp_path: Path) -> None:
    conv = one(write(tmp_path, "m.txt", "坐席：您好\n说话人2：我想问下\n"))
    assert [t.role for t in conv.turns] == ["agent", "customer"]
    assert conv.metadata["role_inference"]["method"] == "aliases"


def test_roles_from_jsonl_speakers(tmp_path: Path) -> None:
    lines = [
        '{"conversation_id": "j", "speaker": "spk1", "text": "喂 你好"}',
        '{"conversation_id": "j", "speaker": "spk0", "text": "您好 欢迎 致电 江南 银行"}',
        '{"conversation_id": "j", "role": "SPEAKER_1", "text": "嗯"}',
    ]
    conv = one(write(tmp_path, "s.jsonl", "\n".join(lines)))
    # 'SPEAKER_1' is not a role: it becomes that turn's speaker, a third one, so a customer
    assert [t.role for t in conv.turns] == ["customer", "agent", "customer"]
    assert conv.turns[2].speaker == "SPEAKER_1"
    assert set(conv.metadata["role_inference"]["scores"]) == {"spk1", "spk0", "SPEAKER_1"}


def test_whitespace_in_labels_is_one_speaker() -> None:
    assert speaker_key("说话人 1") == speaker_key("说话人1")
    roles, info = assign_roles([("unknown", "说话人 1", "您好 这里 是 热线"),
                                ("unknown", "说话人2", "我 想 问"),
                                ("unknown", "说话人1", "请 稍等")], {})
    assert roles == ["agent", "customer", "agent"]
    assert info is not None and info["agent_speaker"] == "说话人 1"


@pytest.mark.parametrize(("text", "flat"), [
    ("您好 这里 是 热线 ， 请问", "您好这里是热线请问"),
    ("您好！请问有什么可以帮您？", "您好请问有什么可以帮您"),
    ("工号\u3000 2031", "工号2031"),
])
def test_squash(text: str, flat: str) -> None:
    assert squash(text) == flat


@pytest.mark.parametrize(("utterances", "agent"), [
    ([("x", "欢迎 光临"), ("y", "我 想 办 卡")], "x"),
    ([("x", "我 要 投诉"), ("y", "请问 您 要 办理 什么 业务")], "y"),
    ([("x", "你好"), ("y", "你好"), ("z", "还有 什么 可以 帮 您")], "z"),
])
def test_infer_agent_table(utterances: list[tuple[str, str]], agent: str) -> None:
    assert infer_agent(utterances).agent_speaker == agent


def test_confidence_grows_with_the_margin() -> None:
    weak = infer_agent([("a", "请稍等"), ("b", "嗯")])
    strong = infer_agent([("a", "您好 这里 是 热线 请问 有 什么 可以 帮 您"), ("b", "我 想 问")])
    assert 0.5 < weak.confidence < strong.confidence < 1.0
