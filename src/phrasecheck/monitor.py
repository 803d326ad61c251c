"""Real-time checking: feed a conversation turn by turn, get alerts as they become true.

A chat system calls :meth:`ConversationMonitor.add` for every message; the monitor answers at
once with the alerts that message raises (a banned phrase, a phrase that vetoes the whole
conversation such as 有本事你去投诉, a rude or evasive reply, a missing greeting, a complaint left
without an apology, a hold without 请稍等), each with a severity and a veto flag;
:meth:`ConversationMonitor.running_score` tells where the conversation stands so far, and, at
the end, :meth:`ConversationMonitor.finalize` returns the same :class:`ConversationScore` the
batch path gives for the whole conversation.

A monitor's state is plain data: :meth:`ConversationMonitor.export_state` gives a JSON-ready
dict and :meth:`ConversationMonitor.restore` continues from it in another thread, process or
machine (the reply-tone verdicts travel with it, so the restored monitor finalizes to the same
score without classifying a turn again).

One monitor follows one conversation (it is not meant to be shared between threads); many
monitors may share one :class:`~phrasecheck.analyzer.Analyzer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._version import __version__
from .analyzer import Analyzer
from .complaints import ComplaintVerdict, detect_complaints
from .holds import announcement, detect_holds
from .i18n import alert_message
from .policy import Rule
from .tone import decide
from .types import (
    ROLES,
    SEVERITIES,
    TONE_SUGGESTIONS,
    Conversation,
    ConversationScore,
    Finding,
    ToneResult,
    Turn,
    _flat,
)

__all__ = ["ALERT_KINDS", "MESSAGE_ALERT_KINDS", "STATE_FORMAT", "Alert", "ConversationMonitor",
           "RunningScore"]

#: Every alert kind (a turn raises its veto alerts first).
ALERT_KINDS: tuple[str, ...] = ("veto", "banned_phrase", "rude_reply", "evasive_reply",
                                "missing_greeting", "no_apology", "no_wait",
                                "no_thanks_after_hold")
#: The kinds that depend on the message alone (not on the turns before it).
MESSAGE_ALERT_KINDS: frozenset[str] = frozenset({"banned_phrase", "veto", "rude_reply",
                                                 "evasive_reply"})
#: ``format`` of :meth:`ConversationMonitor.export_state` documents.
STATE_FORMAT = "phrasecheck.monitor/1"
_REPORTED_KINDS = ("required", "banned")


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a supervisor or the agent's UI should see now.

    ``kind``: ``banned_phrase``, ``veto``, ``rude_reply``, ``evasive_reply``,
    ``missing_greeting``, ``no_apology``, ``no_wait``, ``no_thanks_after_hold``
    (:data:`ALERT_KINDS`). ``suggestion`` is compliant wording a chat UI can offer instead.

    ``severity`` is one of ``minor``, ``major``, ``critical`` (a veto is critical; a banned
    phrase takes its worst finding's severity; other alerts are ``major`` when their rule
    deducts 10 points or more, ``minor`` below). ``veto`` is true when the rule behind the
    alert is a one-vote veto (一票否决): the conversation fails whatever else happens, so a
    supervisor should step in now.
    """

    kind: str
    rule_id: str | None
    turn: int
    message: str
    findings: tuple[Finding, ...] = ()
    suggestion: str | None = None
    severity: str = "minor"
    veto: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (findings as dicts); :meth:`from_dict` reads it back."""
        d = _flat(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        return cls(kind=str(d["kind"]), rule_id=d.get("rule_id"), turn=int(d["turn"]),
                   message=str(d["message"]),
                   findings=tuple(Finding(**f) for f in d.get("findings") or ()),
                   suggestion=d.get("suggestion"), severity=str(d.get("severity", "minor")),
                   veto=bool(d.get("veto", False)))


@dataclass(frozen=True, slots=True)
class RunningScore:
    """Where a live conversation stands.

    ``score`` is the conversation scored as if it ended now (at the last turn it equals
    :meth:`ConversationMonitor.finalize`). ``pending`` names the rules whose outcome may still
    change as turns arrive: a farewell expected in the last turns, a greeting or another
    required phrase not said yet while there is still time, a complaint whose apology window
    is still open. ``settled`` and ``settled_grade`` count only the other rules, so a chat
    that has not ended yet does not lose the farewell points: that is the figure to show on
    a live dashboard.
    """

    score: ConversationScore
    pending: tuple[str, ...]
    settled: float
    settled_grade: str
    settled_vetoed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score.to_dict(), "pending": list(self.pending),
                "settled": self.settled, "settled_grade": self.settled_grade,
                "settled_vetoed": self.settled_vetoed}


def _severity(rule: Rule | None) -> str:
    if rule is None:
        return "minor"
    if rule.veto:
        return "critical"
    return "major" if rule.deduction >= 10 else "minor"


def _worst(findings: tuple[Finding, ...] | list[Finding]) -> str:
    ranks = [SEVERITIES.index(f.severity) for f in findings if f.severity in SEVERITIES]
    return SEVERITIES[max([1, *ranks])]  # at least "minor"


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
                 metadata: Mapping[str, Any] | None = None, *, lang: str = "zh") -> None:
        from .i18n import check_lang

        self.lang = check_lang(lang)  # of the alerts' messages: zh (default) or en
        self.analyzer = analyzer
        self.id = conversation_id
        self.metadata = dict(metadata or {})
        self.turns: list[Turn] = []
        #: every alert raised so far, in order
        self.alerts: list[Alert] = []
        self._findings: list[list[Finding]] = []
        self._tones: dict[int, ToneResult] = {}
        self._complaints: dict[int, ComplaintVerdict] = {}
        self._state = _State()
        policy = analyzer.policy
        self._rules = {r.id: r for r in policy.rules}
        # forbid rules that veto the conversation (abusive_language, privacy_leak, ...)
        self._veto_rules = [r for r in policy.rules if r.kind == "forbid" and r.veto]

    # ------------------------------------------------------------------------------ input
    def add(self, role: str | Turn, text: str | None = None, *, start: float | None = None,
            end: float | None = None, speaker: str | None = None) -> list[Alert]:
        """Add a turn (``add("agent", "您好")`` or ``add(Turn(...))``); returns new alerts.

        ``role`` must be one of ``agent``, ``customer``, ``system``, ``unknown``: any other
        role is a :class:`ValueError` (a misspelt role would otherwise be checked by no rule,
        silently).
        """
        if isinstance(role, Turn):
            t = role
            turn = Turn(len(self.turns), t.role, t.text, t.start, t.end, t.speaker, t.line)
        else:
            if not isinstance(text, str):
                raise TypeError(f"add() needs the turn text as str, got {type(text).__name__}")
            turn = Turn(len(self.turns), role, text, start, end, speaker)
        if turn.role not in ROLES:
            raise ValueError(f"unknown role {turn.role!r} (expected one of: "
                             f"{', '.join(ROLES)})")
        if not isinstance(turn.text, str):
            raise TypeError(f"add() needs the turn text as str, got "
                            f"{type(turn.text).__name__}")
        self.turns.append(turn)
        found = self.analyzer.matcher(turn.role).findings(turn.text, turn=turn.index,
                                                          role=turn.role)
        self._findings.append(found)
        alerts: list[Alert] = []
        alerts += self._veto_alerts(turn, found)
        if turn.role == "agent":
            alerts += self._agent_alerts(turn, found)
        elif turn.role == "customer":
            alerts += self._customer_alerts(turn, found)
        self.alerts += alerts
        return alerts

    def _veto_alerts(self, turn: Turn, found: list[Finding]) -> list[Alert]:
        """A phrase that vetoes the whole conversation is known at once, not at the end."""
        alerts = []
        for rule in self._veto_rules:
            if rule.spec.get("role", "agent") not in (turn.role, "any"):
                continue
            cats = set(rule.spec["categories"])
            hits = tuple(f for f in found if f.category in cats)
            if hits:
                texts = "、".join(dict.fromkeys(f"“{f.text}”" for f in hits))
                alerts.append(Alert("veto", rule.id, turn.index,
                                    alert_message("veto", self.lang, title=rule.title,
                                                  texts=texts), hits,
                                    next((f.suggestion for f in hits if f.suggestion), None),
                                    severity="critical", veto=True))
        return alerts

    def _alert(self, kind: str, rule_id: str, turn: int, message: str,
               suggestion: str | None) -> Alert:
        rule = self._rules.get(rule_id)
        return Alert(kind, rule_id, turn, message, suggestion=suggestion,
                     severity=_severity(rule), veto=bool(rule is not None and rule.veto))

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
                                alert_message("banned_phrase", self.lang, texts=texts),
                                tuple(banned),
                                next((f.suggestion for f in banned if f.suggestion), None),
                                severity=_worst(banned),
                                veto=self._rules["banned_phrases"].veto))
        model = self.analyzer.model
        if model is not None and turn.text.strip():
            tone = model.predict([turn.text])[0]
            self._tones[turn.index] = tone
            answers: bool | None = None  # does it answer a complaint? (for short replies)
            before = next((i for i in range(len(self.turns) - 2, -1, -1)
                           if self.turns[i].role == "customer"), None)
            if before is not None:
                answers = self._is_complaint(before)
            for rid in ("rude_reply", "evasive_reply"):
                rule = self._rules.get(rid)
                if rule is None:
                    continue
                spec = rule.spec
                d = decide(tone, spec["label"], float(spec.get("threshold", 0.5)), turn.text,
                           answers)
                if d.flagged:
                    alerts.append(Alert(rid, rid, turn.index,
                                        alert_message("tone", self.lang, label=spec["label"],
                                                      p=d.probability),
                                        suggestion=TONE_SUGGESTIONS.get(d.subcategory or "")
                                        or TONE_SUGGESTIONS.get(spec["label"]),
                                        severity=_severity(rule), veto=rule.veto))
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
                    alerts.append(self._alert("missing_greeting", "greeting", turn.index,
                                              alert_message("missing_greeting", self.lang,
                                                            n=n),
                                              "您好，很高兴为您服务，请问有什么可以帮您？"))
        # complaints waiting for an apology
        spec = self._rule_spec("apology_after_complaint")
        if spec is not None:
            wanted = set(spec["expect"]["categories"])
            still_open = []
            for cturn, left in self._state.open_complaints:
                if cats & wanted:
                    continue
                if left - 1 <= 0:
                    alerts.append(self._alert("no_apology", "apology_after_complaint",
                                              turn.index,
                                              alert_message("no_apology", self.lang,
                                                            turn=cturn),
                                              "非常抱歉给您带来不便，我理解您的心情，马上为您处理。"))
                else:
                    still_open.append((cturn, left - 1))
            self._state.open_complaints = still_open
        # holds: known once the agent comes back (a hold needs evidence on both sides)
        alerts += self._hold_alerts(turn)
        self._state.pending_hold = turn.index if announcement(turn, found) else None
        return alerts

    def _hold_alerts(self, turn: Turn) -> list[Alert]:
        wait = self._rules.get("wait_before_hold")
        thanks = self._rules.get("thanks_after_hold")
        if wait is None and thanks is None:
            return []
        pos = len(self.turns) - 1
        agent = [i for i, t in enumerate(self.turns) if t.role == "agent"]
        # a hold that ends here began at the agent's previous turn: look at that stretch only
        lo = agent[-2] if len(agent) >= 2 else 0
        stretch = self.turns[lo:]
        holds = [h for h in detect_holds(stretch, self._findings[lo:],
                                         self.analyzer.policy.settings,
                                         self.metadata.get("channel"),
                                         self.analyzer._announce_fn(stretch,
                                                                    self._findings[lo:]))
                 if h.return_position is not None and lo + h.return_position == pos]
        alerts = []
        for h in holds:
            if wait is not None:
                exp = wait.spec["expect"]
                within = int(exp.get("within", 1))
                want = set(exp["categories"])
                k = agent.index(lo + h.position)
                if not any(f.category in want for i in agent[max(0, k + 1 - within):k + 1]
                           for f in self._findings[i]):
                    alerts.append(self._alert("no_wait", "wait_before_hold", h.turn,
                                              f"{alert_message('no_wait', self.lang)} "
                                              f"({h.explain()})",
                                              "请您稍等，我马上为您查询。"))
            if thanks is not None:
                want = set(thanks.spec["expect"]["categories"])
                if not any(f.category in want for f in self._findings[pos]):
                    alerts.append(self._alert("no_thanks_after_hold", "thanks_after_hold",
                                              turn.index,
                                              f"{alert_message('no_thanks_after_hold', self.lang)}"
                                              f" ({h.explain()})",
                                              "感谢您的耐心等待。"))
        return alerts

    def _is_complaint(self, pos: int) -> bool:
        """Whether a short reply to the customer turn at ``pos`` answers a complaint, as the
        tone rules see it: the detector's verdict at the complaint threshold, or a complaint
        cue of the lexicon (see :func:`phrasecheck.tone.decide`)."""
        if any(f.category == "complaint" for f in self._findings[pos]):
            return True
        verdict = self._complaints.get(pos)
        return verdict is not None and verdict.probability >= self.analyzer._complaint_threshold

    def _customer_alerts(self, turn: Turn, found: list[Finding]) -> list[Alert]:
        rule = self._rules.get("apology_after_complaint")
        if rule is None:
            return []
        trig = rule.spec["trigger"]
        pos = len(self.turns) - 1
        if trig.get("event") == "complaint":
            verdict = None
            if self.analyzer._needs_complaints and self.analyzer.complaint_model is not None:
                verdict = self.analyzer.complaint_verdicts(
                    [turn.text], [any(f.category == "complaint" for f in found)])[0]
                self._complaints[pos] = verdict
            complained = bool(detect_complaints(
                [turn], [found], None if verdict is None else (lambda _: verdict),
                float(trig.get("threshold", 0.5))))
        else:
            complained = any(f.category in trig.get("categories", ()) for f in found)
        if complained:
            within = int(rule.spec["expect"].get("within", 1))
            self._state.open_complaints.append((turn.index, within))
        return []

    # ----------------------------------------------------------------------------- output
    @property
    def conversation(self) -> Conversation:
        return Conversation(self.id, tuple(self.turns), dict(self.metadata))

    def turn_findings(self, index: int = -1) -> list[Finding]:
        """The findings of one turn (default: the last) as ``analyzer.check_text(text, role,
        turn=index)`` reports them: required and banned phrases, and for an agent turn the
        reply-tone finding when the classifier flagged it (from the verdict already made)."""
        turn = self.turns[index]
        if turn.role != "agent":  # no verdict is kept for these turns: check_text decides
            return self.analyzer.check_text(turn.text, turn.role, turn=turn.index)
        found = [f for f in self._findings[turn.index] if f.kind in _REPORTED_KINDS]
        tone = self._tones.get(turn.index)
        if tone is not None:
            f = self.analyzer._tone_finding(tone, turn.text, turn.index, turn.role)
            if f is not None:
                found.append(f)
        return found

    def finalize(self) -> ConversationScore:
        """The conversation's score, identical to ``analyzer.score(conversation)``."""
        return self.analyzer.score(self.conversation, turn_findings=self._findings,
                                   tones=self._tones, complaints=self._complaints)

    def running_score(self) -> RunningScore:
        """The score so far, with the rules that are still open (see :class:`RunningScore`)."""
        now = self.finalize()
        pending = tuple(r.rule_id for r in now.rule_results if self._pending(r.rule_id, r.passed))
        settled = [r for r in now.rule_results if r.rule_id not in pending]
        policy = self.analyzer.policy
        vetoed = any(r.veto for r in settled)
        value = policy.veto_score if vetoed else max(
            policy.floor, policy.start - sum(r.deduction for r in settled))
        return RunningScore(now, pending, round(value, 4), policy.grade_for(value, vetoed),
                            vetoed)

    def _pending(self, rule_id: str, passed: bool | None) -> bool:
        rule = self._rules[rule_id]
        if rule.kind == "require":
            scope = rule.spec.get("scope", "anywhere")
            if not isinstance(scope, dict):
                return passed is not True  # may still be said
            (edge, n), = scope.items()
            if edge == "last":
                return True  # only the end of the conversation tells
            role = rule.spec.get("role", "agent")
            said = sum(1 for t in self.turns if role == "any" or t.role == role)
            return passed is not True and said < int(n)
        if rule.kind == "context":
            if rule_id == "apology_after_complaint":
                return bool(self._state.open_complaints)
            if rule_id == "thanks_after_hold":
                return self._state.pending_hold is not None
            return False
        # conditions over the whole conversation are judged at the end; forbid and classifier
        # findings never go away
        return rule.kind in ("all", "any", "none")

    # ------------------------------------------------------------------- export / restore
    def export_state(self) -> dict[str, Any]:
        """Everything needed to continue this conversation elsewhere, as JSON-ready data.

        The turns, the reply-tone and complaint verdicts already made, the alerts raised so far
        and the
        monitor's open windows (complaints waiting for an apology, a hold waiting for its
        thanks). Lexicon findings are not stored: :meth:`restore` finds them again.
        """
        st = self._state
        return {
            "format": STATE_FORMAT,
            "phrasecheck_version": __version__,
            "policy": self.analyzer.policy.name,
            "id": self.id,
            "lang": self.lang,
            "metadata": dict(self.metadata),
            "turns": [{"role": t.role, "text": t.text, "start": t.start, "end": t.end,
                       "speaker": t.speaker, "line": t.line} for t in self.turns],
            "tones": {str(i): r.to_dict() for i, r in sorted(self._tones.items())},
            "complaints": {str(i): {"probability": v.probability,
                                    "features": [list(f) for f in v.features]}
                           for i, v in sorted(self._complaints.items())},
            "alerts": [a.to_dict() for a in self.alerts],
            "monitor": {"greeting_checked": st.greeting_checked,
                        "open_complaints": [list(c) for c in st.open_complaints],
                        "pending_hold": st.pending_hold},
        }

    @classmethod
    def restore(cls, analyzer: Analyzer, state: Mapping[str, Any], *,
                lang: str | None = None) -> ConversationMonitor:
        """A monitor that continues from :meth:`export_state`'s output (its new alerts in
        ``lang``; by default in the language the exported monitor used).

        ``analyzer`` must use the policy the state was exported under (a
        :class:`ValueError` says so otherwise, as it does for a malformed state).
        """
        try:
            return cls._restore(analyzer, state, lang)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith("session state"):
                raise
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"session state: malformed ({what})") from None

    @classmethod
    def _restore(cls, analyzer: Analyzer, state: Mapping[str, Any], lang: str | None = None
                 ) -> ConversationMonitor:
        if not isinstance(state, Mapping):
            raise ValueError(f"session state: expected an object, got {type(state).__name__}")
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"session state: format {state.get('format')!r} is not "
                             f"{STATE_FORMAT!r}")
        if state["policy"] != analyzer.policy.name:
            raise ValueError(f"session state: exported under policy {state['policy']!r}, "
                             f"this analyzer uses {analyzer.policy.name!r}")
        m = cls(analyzer, str(state["id"]), state.get("metadata") or {},
                lang=str(state.get("lang", "zh")) if lang is None else lang)
        for i, t in enumerate(state["turns"]):
            role, text = t["role"], t["text"]
            if role not in ROLES:
                raise ValueError(f"session state: turn {i}: unknown role {role!r} (expected "
                                 f"one of: {', '.join(ROLES)})")
            if not isinstance(text, str):
                raise ValueError(f"session state: turn {i}: text is not a string")
            turn = Turn(i, role, text, _num(t.get("start")), _num(t.get("end")),
                        t.get("speaker"), t.get("line"))
            m.turns.append(turn)
            m._findings.append(analyzer.matcher(role).findings(text, turn=i, role=role))
        n = len(m.turns)
        for key, d in (state.get("tones") or {}).items():
            i = int(key)
            if not 0 <= i < n:
                raise ValueError(f"session state: tone verdict for turn {i}, which does not "
                                 f"exist ({n} turns)")
            sub = d.get("subcategory")
            balanced = d.get("balanced_label")
            m._tones[i] = ToneResult(
                str(d["label"]), {str(k): float(v) for k, v in d["probabilities"].items()},
                tuple((str(f), float(w)) for f, w in d.get("features", ())),
                None if sub is None else str(sub),
                {str(k): float(v) for k, v in (d.get("sub_probabilities") or {}).items()},
                None if balanced is None else str(balanced))
        for key, d in (state.get("complaints") or {}).items():
            i = int(key)
            if not 0 <= i < n:
                raise ValueError(f"session state: complaint verdict for turn {i}, which does "
                                 f"not exist ({n} turns)")
            m._complaints[i] = ComplaintVerdict(
                float(d["probability"]),
                tuple((str(f), float(w)) for f, w in d.get("features", ())))
        m.alerts = [Alert.from_dict(a) for a in state.get("alerts") or ()]
        mon = state.get("monitor") or {}
        m._state = _State(
            greeting_checked=bool(mon.get("greeting_checked", False)),
            open_complaints=[(int(t), int(left)) for t, left in mon.get("open_complaints", ())],
            pending_hold=None if mon.get("pending_hold") is None else int(mon["pending_hold"]))
        return m


def _num(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"session state: a turn time is {x!r}, not a number")
    return x
