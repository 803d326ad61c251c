"""Which diarised speaker is the agent? A small cue table, scored per speaker.

ASR output labels speakers (说话人1, SPEAKER_00, A/B), not roles. The agent is the one who
opens with a service greeting (您好…这里是, 欢迎致电, 工号…), asks 请问有什么可以帮您, puts the
customer on hold politely (请稍等, 我帮您查一下) and closes (还有什么可以帮您, 感谢您的来电);
customer talk (我想问, 我要投诉, 我的卡…) counts against. Text is compared with whitespace and
punctuation removed, because ASR puts spaces between words and often drops punctuation. This
module knows nothing of lexicons or policies on purpose: it only has to tell speakers apart.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CUES", "RoleInference", "assign_roles", "infer_agent", "speaker_key", "squash"]


def speaker_key(label: str) -> str:
    """Speaker labels compare without whitespace and case: ``说话人 1`` == ``说话人1``."""
    return re.sub(r"\s+", "", str(label)).casefold()

# (pattern, weight, opening): an opening cue weighs double in one of the first three turns.
CUES: tuple[tuple[str, float, bool], ...] = (
    # service greeting / self-introduction
    (r"您好.{0,15}(这里是|我是|很高兴)", 3, True),
    (r"这里是.{0,16}(热线|中心|银行|医院|法院|窗口|服务台|客服|公司|营业厅|大厅)", 2, True),
    (r"很高兴为您服务|(为|给)您服务", 3, True),
    (r"工号|编号[0-9零一二三四五六七八九]", 3, True),
    (r"欢迎(致电|光临|来到|使用|您)", 3, True),
    # offering help
    (r"有什么(可以|能|需要)?(帮|帮助|为)(您|你)", 4, True),
    (r"请问(您|你)(要|需要|想)?(办理|咨询|反映)(什么|哪)", 4, True),
    (r"请问(您|你)?(有什么|哪里)(事|问题|需要)", 2, True),
    # hold, service, closing
    (r"请(您)?稍等|稍等(一下|片刻)|请(您)?稍候", 2, False),
    (r"我(帮|给|为)您(查|看|核实|登记|记录|转|处理|办理|反映|预约|申请|问)", 2, False),
    (r"(感谢|谢谢)您?的?耐心等待|让您久等", 2, False),
    (r"还有(什么|其他|别的)(问题|需要|业务|可以)", 2, False),
    (r"感谢您的?(来电|致电|理解|配合|支持|咨询)", 2, False),
    (r"祝您.{0,6}(愉快|顺利|健康|康复)", 2, False),
    (r"请(您)?提供|请问您的(姓名|身份证|手机|电话|卡号|账号|名字|订单)", 1, False),
    (r"给您(带来|造成)(的)?不便|请您(放心|理解|不要着急|别着急)", 1, False),
    # customer talk
    (r"我(想|要)(问|咨询|投诉|办|查|反映|举报|预约|挂号|开|补|改|退|了解)", -2, False),
    (r"我的(卡|银行卡|账户|账号|社保|医保|订单|密码|案子|号码)", -2, False),
    (r"你们(怎么|为什么|这)|怎么回事|帮我", -1, False),
)

_compiled: list[tuple[re.Pattern[str], float, bool]] | None = None


def _cues() -> list[tuple[re.Pattern[str], float, bool]]:
    global _compiled
    if _compiled is None:
        _compiled = [(re.compile(p), w, o) for p, w, o in CUES]
    return _compiled


def squash(text: str) -> str:
    """Remove whitespace and punctuation (ASR spacing, missing or full-width punctuation)."""
    return "".join(ch for ch in text
                   if not (ch.isspace() or unicodedata.category(ch)[0] in "PZ"))


@dataclass(frozen=True, slots=True)
class RoleInference:
    agent_speaker: str
    scores: Mapping[str, float]
    confidence: float
    method: str  # "cues" | "first_speaker" | "override" | "aliases"

    def to_dict(self) -> dict[str, Any]:
        return {"agent_speaker": self.agent_speaker, "scores": dict(self.scores),
                "confidence": self.confidence, "method": self.method}


def infer_agent(utterances: Sequence[tuple[str, str]]) -> RoleInference:
    """Score each speaker of ``(speaker, text)`` utterances and pick the agent.

    Ties go to the speaker who spoke first. With no cue at all the first speaker is the agent
    with confidence 0.5 (method ``first_speaker``).
    """
    if not utterances:
        raise ValueError("no utterances")
    order: list[str] = []
    scores: dict[str, float] = {}
    hits = 0
    for position, (speaker, text) in enumerate(utterances):
        if speaker not in scores:
            order.append(speaker)
            scores[speaker] = 0.0
        flat = squash(text)
        for pattern, weight, opening in _cues():
            if pattern.search(flat):
                hits += 1
                scores[speaker] += weight * (2 if opening and position < 3 else 1)
    if hits == 0:
        return RoleInference(order[0], scores, 0.5, "first_speaker")
    ranked = sorted(order, key=lambda s: -scores[s])  # stable: ties keep speaking order
    best = ranked[0]
    second = scores[ranked[1]] if len(ranked) > 1 else min(0.0, scores[best])
    margin = scores[best] - second
    confidence = round(1 - 0.5 * math.exp(-margin / 4), 3)
    return RoleInference(best, scores, confidence, "cues")


def assign_roles(turns: Sequence[tuple[str, str | None, str]],
                 speaker_roles: Mapping[str, str],
                 infer: bool = True) -> tuple[list[str], dict[str, Any] | None]:
    """Roles for ``(role, speaker, text)`` turns whose role is ``unknown`` but speaker known.

    ``speaker_roles`` maps normalised speaker keys (see ``speaker_key``) to roles and wins;
    when it names an agent, every other labelled speaker is a customer. When an alias already
    made someone the agent, labelled speakers are customers. Otherwise the cue scores decide.
    Returns the roles and the ``role_inference`` record (None when nothing was inferred).
    """
    roles = [r for r, _, _ in turns]
    labels: dict[str, str] = {}
    for role, spk, _ in turns:
        if role == "unknown" and spk is not None:
            labels.setdefault(speaker_key(spk), spk)
    if not labels:
        return roles, None
    decided: dict[str, str] = {k: speaker_roles[k] for k in labels if k in speaker_roles}
    record: RoleInference | None = None
    if decided:
        agents = [labels[k] for k, r in decided.items() if r == "agent"]
        rest = [k for k in labels if k not in decided]
        if agents or not infer:
            decided.update(dict.fromkeys(rest, "customer" if agents else "unknown"))
        elif rest:
            guess = infer_agent([(speaker_key(s), t) for r, s, t in turns
                                 if r == "unknown" and s is not None and speaker_key(s) in rest])
            decided.update({k: "agent" if k == guess.agent_speaker else "customer" for k in rest})
            agents = [labels[guess.agent_speaker]]
        record = RoleInference(agents[0] if agents else "", {}, 1.0, "override")
    elif "agent" in roles:
        decided = dict.fromkeys(labels, "customer")
        agent_label = next(s for r, s, _ in turns if r == "agent")
        record = RoleInference(agent_label or "agent", {}, 1.0, "aliases")
    elif infer:
        guess = infer_agent([(speaker_key(s), t) for r, s, t in turns
                             if r == "unknown" and s is not None])
        decided = {k: "agent" if k == guess.agent_speaker else "customer" for k in labels}
        record = RoleInference(labels[guess.agent_speaker],
                               {labels[k]: v for k, v in guess.scores.items()},
                               guess.confidence, guess.method)
    else:
        return roles, None
    out = [decided.get(speaker_key(s), r) if r == "unknown" and s is not None else r
           for r, s, _ in turns]
    return out, record.to_dict()
