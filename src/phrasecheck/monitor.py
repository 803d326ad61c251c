"""Real-time checking: feed a conversation turn by turn, get alerts as they become true.

A chat system calls :meth:`ConversationMonitor.add` for every message; the monitor answers at
once with the alerts that message raises (a banned phrase, a rude or evasive reply, a missing
greeting, a complaint left without an apology, a hold without 请稍等) and, at the end,
:meth:`ConversationMonitor.finalize` returns the same :class:`ConversationScore` the batch path
gives for the whole conversation.

One monitor follows one conversation (it is not meant to be shared between threads); many
monitors may share one :class:`~phrasecheck.analyzer.Analyzer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .analyzer import Analyzer
from .types import TONE_SUGGESTIONS, Conversation, ConversationScore, Finding, Turn

__all__ = ["Alert", "ConversationMonitor"]


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a supervisor or the agent's UI should see now.

    ``kind``: ``banned_phrase``, ``rude_reply``, ``evasive_reply``, ``missing_greeting``,
    ``no_apology``, ``no_wait``, ``no_thanks_after_hold``. ``suggestion`` is compliant
    wording a chat UI can offer instead.
    """

    kind: str
    rule_id: str | None
    turn: int
    message: str
    findings: tuple[Finding, ...] = ()
    suggestion: str | None = None


@dataclass
class _State:
    greeting_checked: bool = False
    open_complaints: list[tuple[int, int]] = field(default_factory=list)  # (turn, agents left)
    pending_hold: int | None = None


class ConversationMonitor:
    """Follow one conversation as it happens.

    >>> m = ConversationMonitor(Analyzer(model=None))
    >>> [a.kind for a in m.add("agent", "你好烦啊")]
    ['banned_phrase']
    """

    def __init__(self, analyzer: Analyzer, conversation_id: str = "live",
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.analyzer = analyzer
        self.id = conversation_id
        self.metadata = dict(metadata or {})
        self.turns: list[Turn] = []
        self._findings: list[list[Finding]] = []
        self._tones: dict[int, Any] = {}
        self._state = _State()
        policy = analyzer.policy
        self._rules = {r.id: r for r in policy.rules}

    # ------------------------------------------------------------------------------ input
    def add(self, role: str | Turn, text: str | None = None, *, start: float | None = None,
            end: float | None = None, speaker: str | None = None) -> list[Alert]:
        """Add a turn (``add("agent", "您好")`` or ``add(Turn(...))``); returns new alerts."""
        if isinstance(role, Turn):
            t = role
            turn = Turn(len(self.turns), t.role, t.text, t.start, t.end, t.speaker, t.line)
        else:
            if not isinstance(text, str):
                raise TypeError(f"add() needs the turn text as str, got {type(text).__name__}")
            turn = Turn(len(self.turns), role, text, start, end, speaker)
        self.turns.append(turn)
        found = self.analyzer.matcher(turn.role).findings(turn.text, turn=turn.index,
                                                          role=turn.role)
        self._findings.append(found)
        alerts: list[Alert] = []
        if turn.role == "agent":
            alerts += self._agent_alerts(turn, found)
        elif turn.role == "customer":
            alerts += self._customer_alerts(turn, found)
        return alerts

    def _rule_spec(self, rule_id: str) -> Any:
        r = self._rules.get(rule_id)
        return None if r is None else r.spec

    def _agent_alerts(self, turn: Turn, found: list[Finding]) -> list[Alert]:
        alerts = []
        cats = {f.category for f in found}
        banned = [f for f in found if f.kind == "banned"]
        if banned and "banned_phrases" in self._rules:
            texts = "、".join(dict.fromkeys(f"“{f.text}”" for f in banned))
            alerts.append(Alert("banned_phrase", "banned_phrases", turn.index,
                                f"banned phrase {texts}", tuple(banned),
                                next((f.suggestion for f in banned if f.suggestion), None)))
        model = self.analyzer.model
        if model is not None and turn.text.strip():
            tone = model.predict([turn.text])[0]
            self._tones[turn.index] = tone
            for rid in ("rude_reply", "evasive_reply"):
                spec = self._rule_spec(rid)
                if spec is None:
                    continue
                prob = float(tone.probabilities.get(spec["label"], 0.0))
                if prob >= float(spec.get("threshold", 0.5)):
                    alerts.append(Alert(rid, rid, turn.index,
                                        f"{spec['label']} reply (P = {prob:.2f})",
                                        suggestion=TONE_SUGGESTIONS.get(spec["label"])))
        # greeting: once the agent has spoken as many turns as the rule's scope allows
        spec = self._rule_spec("greeting")
        if spec is not None and not self._state.greeting_checked:
            scope = spec.get("scope", "anywhere")
            n = scope.get("first") if isinstance(scope, dict) else None
            agent_turns = [i for i, t in enumerate(self.turns) if t.role == "agent"]
            if n and len(agent_turns) >= n:
                self._state.greeting_checked = True
                wanted = set(spec["categories"])
                if not any(f.category in wanted for i in agent_turns[:n]
                           for f in self._findings[i]):
                    alerts.append(Alert("missing_greeting", "greeting", turn.index,
                                        f"no greeting in the first {n} agent turn(s)",
                                        suggestion="您好，很高兴为您服务，请问有什么可以帮您？"))
        # complaints waiting for an apology
        spec = self._rule_spec("apology_after_complaint")
        if spec is not None:
            wanted = set(spec["expect"]["categories"])
            still_open = []
            for cturn, left in self._state.open_complaints:
                if cats & wanted:
                    continue
                if left - 1 <= 0:
                    alerts.append(Alert("no_apology", "apology_after_complaint", turn.index,
                                        f"the complaint in turn {cturn} has had no apology or "
                                        "reassurance", suggestion="非常抱歉给您带来不便，"
                                                                  "我理解您的心情，马上为您处理。"))
                else:
                    still_open.append((cturn, left - 1))
            self._state.open_complaints = still_open
        # holds: 请稍等 before, 感谢您的耐心等待 after
        if self._state.pending_hold is not None and "thanks_after_hold" in self._rules:
            want = set(self._rules["thanks_after_hold"].spec["expect"]["categories"])
            if not cats & want:
                alerts.append(Alert("no_thanks_after_hold", "thanks_after_hold", turn.index,
                                    "back from a hold without thanking the customer for waiting",
                                    suggestion="感谢您的耐心等待。"))
            self._state.pending_hold = None
        if "hold" in cats and "wait_before_hold" in self._rules:
            exp = self._rules["wait_before_hold"].spec["expect"]
            want = set(exp["categories"])
            within = int(exp.get("within", 1))
            recent = [i for i, t in enumerate(self.turns) if t.role == "agent"][-within:]
            if not any(f.category in want for i in recent for f in self._findings[i]):
                alerts.append(Alert("no_wait", "wait_before_hold", turn.index,
                                    "putting the customer on hold without 请稍等",
                                    suggestion="请您稍等，我马上为您查询。"))
            self._state.pending_hold = turn.index
        return alerts

    def _customer_alerts(self, turn: Turn, found: list[Finding]) -> list[Alert]:
        spec = self._rule_spec("apology_after_complaint")
        if spec is not None and any(f.category in spec["trigger"]["categories"] for f in found):
            within = int(spec["expect"].get("within", 1))
            self._state.open_complaints.append((turn.index, within))
        return []

    # ----------------------------------------------------------------------------- output
    @property
    def conversation(self) -> Conversation:
        return Conversation(self.id, tuple(self.turns), dict(self.metadata))

    def finalize(self) -> ConversationScore:
        """The conversation's score, identical to ``analyzer.score(conversation)``."""
        return self.analyzer.score(self.conversation, turn_findings=self._findings,
                                   tones=self._tones)
