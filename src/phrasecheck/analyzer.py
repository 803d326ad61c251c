"""The Analyzer: lexicons + matcher + classifier + policy, wired once, used many times.

Build it once (it loads and validates lexicons and the policy, and builds the automata) and
share it: every method is safe to call from many threads at once. The jieba dictionary and
the classifier model load on first use, or up front with :meth:`Analyzer.warm`.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from ._cache import paused_gc
from .complaints import CUE_MARK, ComplaintVerdict
from .errors import PolicyError
from .holds import model_candidates
from .lexicon import Lexicon, load_lexicon
from .matching import Overlap, PhraseMatcher
from .normalize import Normalizer
from .policy import Policy, load_policy
from .rules import Facts, RuleTrace, evaluate_rule, score, tone_finding
from .tokenize import JiebaTokenizer, Tokenizer
from .tone import decide
from .types import (
    Conversation,
    ConversationScore,
    Finding,
    ToneResult,
    Turn,
    positional_maker,
)

__all__ = ["Analyzer"]

ModelSpec = Literal["default"] | str | os.PathLike[str] | Any | None
_REPORTED_KINDS = ("required", "banned")


class Analyzer:
    """Check texts and score conversations.

    >>> a = Analyzer()                       # default lexicons and policy
    >>> [f.phrase for f in a.check_text("您好，请稍等")]
    ['您好', '请稍等']

    Parameters
    ----------
    policy:
        a preset name (``"default"``, ``"hotline"``, ``"bank"`` …), a policy file path, or a
        :class:`~phrasecheck.policy.Policy`.
    lexicons:
        extra lexicon files or directories, loaded after the defaults.
    default_lexicon:
        ``False`` to use only ``lexicons``.
    model:
        ``"default"`` (the bundled reply-tone model, if installed), a model path, a loaded
        model object with ``predict(texts) -> list[ToneResult]``, or ``None`` for no classifier.
    complaint_model:
        the complaint detector for customer turns (:mod:`phrasecheck.complaints`), given like
        ``model``; ``None`` finds complaints by the lexicon's cues alone.
    hold_model:
        the hold-announcement model for agent turns (:mod:`phrasecheck.holds`), given like
        ``model``; used where the lexicon's hold cues and the announcement patterns find
        nothing, at the policy's ``settings.hold_model_threshold``. ``None``: cues and patterns
        alone.
    overlap:
        ``"longest"`` (default) or ``"all"``; see :mod:`phrasecheck.matching`.
    """

    def __init__(
        self,
        policy: str | os.PathLike[str] | Policy = "default",
        *,
        lexicons: Sequence[str | os.PathLike[str] | Traversable] = (),
        default_lexicon: bool = True,
        lexicon: Lexicon | None = None,
        model: ModelSpec = "default",
        complaint_model: ModelSpec = "default",
        hold_model: ModelSpec = "default",
        overlap: Overlap = "longest",
        normalizer: Normalizer | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.normalizer = normalizer or Normalizer()
        with paused_gc():  # tables of many objects, none of them garbage
            self.lexicon = lexicon if lexicon is not None else load_lexicon(
                *lexicons, defaults=default_lexicon, normalizer=self.normalizer)
        self.policy = load_policy(policy)
        issues = (self.policy.check_categories(self.lexicon.categories)
                  + self.policy.check_bases(self.lexicon.bases))
        if issues:
            raise PolicyError(issues)
        forms = [self.normalizer.fold_phrase(f) for e in self.lexicon for f in e.forms]
        self.tokenizer: Tokenizer = tokenizer or JiebaTokenizer(
            words=[f for f in forms if len(f) > 1])
        self._roles: dict[str, list[str]] = {}
        for code, cat in self.lexicon.categories.items():
            self._roles.setdefault(cat.role, []).append(code)
        self._overlap: Overlap = overlap
        # built on first use (a chat system checking agent messages never needs the
        # customer's): see matcher()
        self._matchers: dict[str, PhraseMatcher] = {}
        self._matcher_lock = threading.Lock()
        self._model_spec = model
        self._model: Any = None
        self._model_loaded = False
        self._lock = threading.Lock()
        # the lowest threshold of each classifier rule's label: below it, no rule reports a
        # reply (empty: the policy has no classifier rule, so nothing is classified)
        self._thresholds: dict[str, float] = {}
        for r in self.policy.rules:
            if r.kind == "classifier":
                lb, t = r.spec["label"], float(r.spec.get("threshold", 0.5))
                self._thresholds[lb] = min(t, self._thresholds.get(lb, t))
        self._complaint_spec = complaint_model
        self._hold_spec = hold_model
        self._hold_model: Any = None
        self._hold_loaded = False
        # the hold-announcement model runs only when a rule is triggered by holds and the
        # policy sets its threshold
        self._hold_threshold: float | None = self.policy.settings.get("hold_model_threshold")
        self._needs_hold_model = self._hold_threshold is not None and any(
            r.kind == "context" and r.spec["trigger"].get("event") == "hold"
            for r in self.policy.rules)
        self._complaint_model: Any = None
        self._complaint_loaded = False
        # the complaint detector runs only when a rule is triggered by complaint events
        trigger = next((r.spec["trigger"] for r in self.policy.rules if r.kind == "context"
                        and r.spec["trigger"].get("event") == "complaint"), None)
        self._needs_complaints = trigger is not None
        self._complaint_threshold = float(trigger.get("threshold", 0.5)) if trigger else 0.5

    def __repr__(self) -> str:
        return (f"Analyzer(policy={self.policy.name!r}, lexicon={self.lexicon!r}, "
                f"model={'loaded' if self._model is not None else self._model_spec!r})")

    # ----------------------------------------------------------------------- components
    def matcher(self, role: str = "agent") -> PhraseMatcher:
        """The phrase matcher for turns of ``role`` (unknown roles are checked as agents);
        built on first use, once, whichever thread asks first."""
        m = self._matchers.get(role)
        if m is not None:
            return m
        key = role if role in self._roles else "agent"
        with self._matcher_lock:
            m = self._matchers.get(key)
            if m is None:
                if key not in self._roles:
                    raise KeyError(f"the lexicon has no categories for {key!r} turns "
                                   f"(roles: {', '.join(sorted(self._roles)) or 'none'})")
                with paused_gc():  # tables of many objects, none of them garbage
                    m = PhraseMatcher(self.lexicon, normalizer=self.normalizer,
                                      tokenizer=self.tokenizer, overlap=self._overlap,
                                      categories=self._roles[key])
                self._matchers[key] = m
            if role != key:
                self._matchers[role] = m
        return m

    @property
    def model(self) -> Any:
        """The reply-tone model, loaded on first use (``None`` when there is none)."""
        if not self._model_loaded:
            with self._lock:
                if not self._model_loaded:
                    model = _load_model(self._model_spec)
                    prior = self.policy.settings.get("tone_prior")
                    if prior and model is not None and hasattr(model, "with_prior"):
                        model = model.with_prior(prior)  # the policy's deployment prior
                    self._model = model
                    self._model_loaded = True
        return self._model

    @property
    def complaint_model(self) -> Any:
        """The complaint detector, loaded on first use (``None`` when there is none)."""
        if not self._complaint_loaded:
            with self._lock:
                if not self._complaint_loaded:
                    self._complaint_model = _load_model(self._complaint_spec, "complaint")
                    self._complaint_loaded = True
        return self._complaint_model

    @property
    def hold_model(self) -> Any:
        """The hold-announcement model, loaded on first use (``None`` when there is none)."""
        if not self._hold_loaded:
            with self._lock:
                if not self._hold_loaded:
                    self._hold_model = _load_model(self._hold_spec, "hold")
                    self._hold_loaded = True
        return self._hold_model

    def warm(self) -> Analyzer:
        """Build every matcher and load jieba's dictionary and the models now rather than
        on first use."""
        for role in self._roles:
            self.matcher(role)
        load = getattr(self.tokenizer, "load", None)
        if load is not None:
            load()
        if self._needs_complaints and self.complaint_model is not None:
            warm_complaints = getattr(self.complaint_model, "warm", None)
            if warm_complaints is not None:  # its batch tables too, as for the tone model
                warm_complaints()
            else:
                self.complaint_model.predict(["你们怎么回事"])
        if self._needs_hold_model and self.hold_model is not None:
            warm_holds = getattr(self.hold_model, "warm", None)
            if warm_holds is not None:
                warm_holds()
        if self.model is not None:
            warm = getattr(self.model, "warm", None)
            if warm is not None:
                warm()
            else:
                self.model.predict(["您好"])
        self.check_text("您好，请问有什么可以帮您？")
        return self

    # -------------------------------------------------------------------------- texts
    def check_text(self, text: str, role: str = "agent", *, turn: int | None = None,
                   classify: bool | None = None, kinds: Iterable[str] = _REPORTED_KINDS,
                   context: str | None = None) -> list[Finding]:
        """Findings in one message: lexicon hits and, for agent text, the tone classifier.

        ``kinds`` selects lexicon kinds (``required``, ``banned``, ``cue``). Spans are
        half-open offsets into ``text``. ``classify=None`` classifies agent text when a model
        is available. ``context`` is the customer turn the message answers, where there is
        one: a very short reply is reported by the tone classifier only when it answers a
        complaint (:mod:`phrasecheck.tone`).
        """
        if not isinstance(text, str):
            raise TypeError(f"check_text() needs a str, got {type(text).__name__}")
        if context is not None and not isinstance(context, str):
            raise TypeError(f"check_text(context=) needs a str, got {type(context).__name__}")
        wanted = set(kinds)
        found = [f for f in self.matcher(role).findings(text, turn=turn, role=role)
                 if f.kind in wanted]
        if classify is None:
            classify = role in ("agent", "unknown")
        if classify and text.strip() and self.model is not None:
            tone = self.model.predict([text])[0]
            answers = (None if context is None
                       else functools.cache(lambda: self._complaint_or_cue(context)))
            f = self._tone_finding(tone, text, turn, role, answers)
            if f is not None:
                found.append(f)
        return found

    def is_complaint(self, text: str) -> bool:
        """Whether a customer turn is a complaint at the policy's threshold (the complaint
        detector when there is one, the lexicon's complaint cues otherwise)."""
        return self._complaint(text, cue_suffices=False)

    def _complaint_or_cue(self, text: str) -> bool:
        """Whether a short reply to ``text`` is judged as answering a complaint: the detector
        says so, or the lexicon finds a complaint cue in it (我记住你工号了)."""
        return self._complaint(text, cue_suffices=True)

    def _complaint(self, text: str, *, cue_suffices: bool) -> bool:
        cue = any(f.category == "complaint"
                  for f in self.matcher("customer").findings(text, role="customer"))
        if (cue and cue_suffices) or self.complaint_model is None or not text.strip():
            return cue
        return self.complaint_verdicts([text], [cue])[0].probability >= self._complaint_threshold

    def _tone_finding(self, tone: ToneResult, text: str, turn: int | None, role: str,
                      answers_complaint: Callable[[], bool] | None = None) -> Finding | None:
        """The tone finding the policy's classifier rules would report for one reply, or
        ``None``; ``answers_complaint()`` tells whether it answers a complaint (asked only
        for a short reply that could be flagged)."""
        for rule in self.policy.rules:
            if rule.kind != "classifier":
                continue
            label, threshold = rule.spec["label"], float(rule.spec.get("threshold", 0.5))
            d = decide(tone, label, threshold, text, answers_complaint)
            if d.flagged:
                return tone_finding(tone, label, text, turn, role, rule.basis, rule.id,
                                    reason=d.reason)
        return None

    def classify(self, texts: Iterable[str]) -> list[ToneResult]:
        """Reply-tone verdicts (``ok``/``rude``/``evasive``) for each text."""
        if isinstance(texts, str):  # list("...") would classify each character
            raise TypeError("classify() takes a list of texts; for one text use "
                            "classify([text]) or check_text(text)")
        model = self.model
        if model is None:
            raise RuntimeError("no reply-tone model is loaded: pass model=PATH to Analyzer(), "
                               "or train one with `phrasecheck train`")
        return list(model.predict(list(texts)))

    # ------------------------------------------------------------------- conversations
    def turn_findings(self, conversation: Conversation) -> list[list[Finding]]:
        """Lexicon findings (all kinds, cues included) for every turn, in turn order."""
        return [self.matcher(t.role).findings(t.text, turn=t.index, role=t.role)
                for t in conversation.turns]

    def _facts(self, conversation: Conversation,
               turn_findings: Sequence[Sequence[Finding]] | None = None,
               tones: Mapping[int, ToneResult | None] | None = None,
               complaints: Mapping[int, ComplaintVerdict] | None = None,
               announced: Mapping[int, tuple[float, str]] | None = None
               ) -> tuple[Facts, list[Finding]]:
        if not isinstance(conversation, Conversation):
            raise TypeError(f"expected a Conversation, got {type(conversation).__name__}")
        per_turn = (self.turn_findings(conversation) if turn_findings is None
                    else [list(fs) for fs in turn_findings])
        reported = [f for fs in per_turn for f in fs if f.kind in _REPORTED_KINDS]
        turns = conversation.turns
        return Facts(conversation, per_turn, self._tone_fn(turns, tones),
                     {**self.policy.settings, "complaint_threshold": self._complaint_threshold},
                     complaint=self._complaint_fn(turns, per_turn, complaints),
                     announce=self._announce_fn(turns, per_turn, announced)), reported

    def complaint_verdicts(self, texts: Sequence[str], cues: Sequence[bool]
                           ) -> list[ComplaintVerdict]:
        """The complaint detector's verdicts for customer ``texts`` (``cues[i]``: the
        lexicon found a complaint cue in text ``i``). Requires a complaint model."""
        model = self.complaint_model
        if model is None:
            raise RuntimeError("no complaint model is loaded")
        inputs = [f"{t} {CUE_MARK}" if c else t for t, c in zip(texts, cues, strict=True)]
        lean = getattr(model, "label_probabilities", None)
        if lean is not None and "complaint" in getattr(model, "labels", ()):
            # P(complaint) and the features of the texts labelled complaint, without a full
            # ToneResult per customer turn; one (frozen) verdict per distinct input, shared
            # by its repeats (好的, 嗯, 对: most customer turns of a batch)
            unique = list(dict.fromkeys(inputs))
            made = {t: ComplaintVerdict(float(p), tuple((n, w) for n, w in feats
                                                        if CUE_MARK not in n))
                    for t, (p, feats) in zip(unique, lean(unique, "complaint"), strict=True)}
            return [made[t] for t in inputs]
        out = []
        for r in _predict_shared(model, inputs):
            p = float(r.probabilities.get("complaint", 0.0))
            feats = tuple((n, w) for n, w in r.features if CUE_MARK not in n)
            out.append(ComplaintVerdict(p, feats if r.label == "complaint" else ()))
        return out

    def _complaint_fn(self, turns: Sequence[Turn], findings: Sequence[Sequence[Finding]],
                      known: Mapping[int, ComplaintVerdict] | None = None) -> Any:
        if not self._needs_complaints:
            return None
        customer = [i for i, t in enumerate(turns) if t.role == "customer" and t.text.strip()]
        cache: dict[int, ComplaintVerdict] = dict(known or {})
        todo = [i for i in customer if i not in cache]
        if todo and self.complaint_model is None:
            return None
        state = {"done": not todo}

        def verdict(i: int) -> ComplaintVerdict | None:
            if not state["done"]:
                got = self.complaint_verdicts(
                    [turns[j].text for j in todo],
                    [any(f.category == "complaint" for f in findings[j]) for j in todo])
                cache.update(zip(todo, got, strict=True))
                state["done"] = True
            return cache.get(i)

        return verdict

    def announce_score(self, text: str) -> tuple[float, str]:
        """The hold-announcement model's P(announcement) for an agent turn, and the clause of
        the turn that scores highest (the evidence a report shows). Requires a hold model."""
        model = self.hold_model
        if model is None:
            raise RuntimeError("no hold-announcement model is loaded")
        return self._announce_scores([text], 0.0)[0]

    def _announce_scores(self, texts: Sequence[str], threshold: float
                         ) -> list[tuple[float, str]]:
        """:meth:`announce_score` of many texts in two model calls, looking for the clause
        only in the texts scored at ``threshold`` or more."""
        model = self.hold_model
        probs = _probability(model, texts, "hold")
        cut = [[c for c in _CLAUSE.split(t) if c.strip()] if p >= threshold else []
               for t, p in zip(texts, probs, strict=True)]
        flat = [c for cs in cut if len(cs) > 1 for c in cs]
        clause_p = iter(_probability(model, flat, "hold") if flat else [])
        out = []
        for t, p, cs in zip(texts, probs, cut, strict=True):
            if len(cs) > 1:
                best = max(((next(clause_p), c) for c in cs), key=lambda pc: pc[0])[1]
            else:
                best = t if cs else ""
            out.append((p, best.strip()))
        return out

    def _announce_fn(self, turns: Sequence[Turn], findings: Sequence[Sequence[Finding]] = (),
                     known: Mapping[int, tuple[float, str]] | None = None) -> Any:
        """The hold model's verdicts on a conversation's agent turns, for
        :func:`~phrasecheck.holds.detect_holds`: ``known`` ones (the candidates, scored by
        the caller), else those of every candidate, scored in one batch on first use; None
        for the other turns."""
        if not self._needs_hold_model or self.hold_model is None:
            return None
        cache: dict[int, tuple[float, str]] = dict(known or {})
        threshold = float(self._hold_threshold or 0.0)
        state = {"done": known is not None or not findings}

        def announce(i: int) -> tuple[float, str] | None:
            if turns[i].role != "agent" or not turns[i].text.strip():
                return None
            if not state["done"]:
                state["done"] = True
                todo = model_candidates(turns, findings, self.policy.settings)
                cache.update(zip(todo, self._announce_scores([turns[j].text for j in todo],
                                                             threshold), strict=True))
            return cache.get(i)  # None: not a turn the hold model is asked about

        return announce

    def _tone_fn(self, turns: Sequence[Turn],
                 known: Mapping[int, ToneResult | None] | None = None) -> Any:
        if not self._thresholds or self.model is None:
            return None
        model = self.model
        agent = [i for i, t in enumerate(turns) if t.role == "agent" and t.text.strip()]
        cache: dict[int, ToneResult | None] = dict(known or {})
        todo = [i for i in agent if i not in cache]
        state = {"done": not todo}

        def tone(i: int) -> ToneResult | None:
            if not state["done"]:  # classify the remaining agent turns in one batch
                for j, r in zip(todo, _predict_shared(model, [turns[j].text for j in todo])):
                    cache[j] = r
                state["done"] = True
            return cache.get(i)

        return tone

    def score(self, conversation: Conversation, *,
              turn_findings: Sequence[Sequence[Finding]] | None = None,
              tones: Mapping[int, ToneResult | None] | None = None,
              complaints: Mapping[int, ComplaintVerdict] | None = None) -> ConversationScore:
        """Score one conversation under the policy, with evidence for every deduction.

        ``turn_findings``/``tones``/``complaints`` let a caller that already checked the turns
        (such as :class:`~phrasecheck.monitor.ConversationMonitor`) skip re-checking them;
        ``tones[i] = None`` says that turn ``i`` was classified and no classifier rule could
        report it.
        """
        facts, reported = self._facts(conversation, turn_findings, tones, complaints)
        return score(self.policy, facts, reported)

    def _score_known(self, conversation: Conversation, turn_findings: Sequence[Sequence[Finding]],
                     tones: Mapping[int, ToneResult | None] | None,
                     complaints: Mapping[int, ComplaintVerdict] | None,
                     announced: Mapping[int, tuple[float, str]] | None) -> ConversationScore:
        facts, reported = self._facts(conversation, turn_findings, tones, complaints, announced)
        return score(self.policy, facts, reported)

    def score_many(self, conversations: Iterable[Conversation], *, batch: int = 32
                   ) -> Iterator[ConversationScore]:
        """Score conversations in order, lazily; the same results as :meth:`score` one by
        one, faster: the agent turns of ``batch`` conversations at a time go to the
        reply-tone model in one call (the model scores a batch in numpy, to the bit as it
        scores one reply). Python's cyclic garbage collector is paused while a chunk is
        scored (scoring makes no reference cycles), never while your code runs between
        results, and is left as you had it."""
        if batch < 1:
            raise ValueError(f"batch={batch}: expected at least 1")
        chunk: list[Conversation] = []
        for c in conversations:
            if not isinstance(c, Conversation):
                raise TypeError(f"expected a Conversation, got {type(c).__name__}")
            chunk.append(c)
            if len(chunk) >= batch:
                yield from self._score_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._score_chunk(chunk)

    def _score_chunk(self, chunk: Sequence[Conversation]) -> Iterator[ConversationScore]:
        # The cyclic garbage collector is held while a chunk is scored (never across a
        # yield: the caller's code runs with it as it was). Scoring makes no reference
        # cycles, only many short-lived objects, and every collection the collector would
        # run meanwhile walks the caller's live objects too: the results a caller keeps,
        # its conversations; with a thousand results kept that was 11 % of score_many.
        with paused_gc():
            scores = self._score_chunk_now(chunk)
        yield from scores

    def _score_chunk_now(self, chunk: Sequence[Conversation]) -> list[ConversationScore]:
        classify = bool(self._thresholds) and self.model is not None
        detect = self._needs_complaints and self.complaint_model is not None
        holds = self._needs_hold_model and self.hold_model is not None
        if len(chunk) == 1 or not (classify or detect or holds):
            return [self.score(c) for c in chunk]
        # Both models answer a whole chunk at once: one call each instead of one per
        # conversation (the per-call cost is most of the cost for a short conversation).
        tones: list[dict[int, ToneResult | None]] = [{} for _ in chunk]
        complaints: list[dict[int, ComplaintVerdict]] = [{} for _ in chunk]
        found = self._chunk_findings(chunk)
        if classify:
            assert self.model is not None
            # (conversation, position in its turns) of every agent turn _tone_fn classifies
            where = [(ci, ti) for ci, c in enumerate(chunk)
                     for ti, t in enumerate(c.turns) if t.role == "agent" and t.text.strip()]
            texts = [chunk[ci].turns[ti].text for ci, ti in where]
            screen = getattr(self.model, "predict_reportable", None)
            # a reply no classifier rule could report gets no result (None: skipped by the
            # rules, which is all they would do with it)
            results = (screen(texts, self._thresholds) if screen is not None
                       else _predict_shared(self.model, texts))
            for (ci, ti), r in zip(where, results, strict=True):
                tones[ci][ti] = r
        if detect:
            asked = [(ci, ti) for ci, c in enumerate(chunk)
                     for ti, t in enumerate(c.turns) if t.role == "customer" and t.text.strip()]
            verdicts = self.complaint_verdicts(
                [chunk[ci].turns[ti].text for ci, ti in asked],
                [any(f.category == "complaint" for f in found[ci][ti]) for ci, ti in asked])
            for (ci, ti), v in zip(asked, verdicts, strict=True):
                complaints[ci][ti] = v
        announced: list[dict[int, tuple[float, str]]] = [{} for _ in chunk]
        if holds:  # the agent turns the hold model may be asked about, in one batch
            settings = self.policy.settings
            cand = [(ci, ti) for ci, c in enumerate(chunk)
                    for ti in model_candidates(c.turns, found[ci], settings)]
            got = self._announce_scores([chunk[ci].turns[ti].text for ci, ti in cand],
                                        float(self._hold_threshold or 0.0))
            for (ci, ti), pc in zip(cand, got, strict=True):
                announced[ci][ti] = pc
        return [self._score_known(c, fs, known if classify else None, said if detect else None,
                                  heard if holds else None)
                for c, fs, known, said, heard in zip(chunk, found, tones, complaints, announced,
                                                     strict=True)]

    def _chunk_findings(self, chunk: Sequence[Conversation]) -> list[list[list[Finding]]]:
        """:meth:`turn_findings` of every conversation of a chunk; a (role, text) met again
        in the chunk (好的, 请稍等, a canned opening) is matched once and its findings are
        given the turn index of each repeat."""
        memo: dict[tuple[str, str], list[Finding]] = {}
        # the first turn of each distinct (role, text), matched a role at a time
        first: dict[tuple[str, str], int] = {}
        for c in chunk:
            for t in c.turns:
                first.setdefault((t.role, t.text), t.index)
        by_role: dict[str, list[tuple[str, str]]] = {}
        for key in first:
            by_role.setdefault(key[0], []).append(key)
        for role, keys in by_role.items():
            got = self.matcher(role).findings_many([k[1] for k in keys],
                                                   [first[k] for k in keys], role=role)
            memo.update(zip(keys, got, strict=True))
        out = []
        for c in chunk:
            per_turn = []
            for t in c.turns:
                fs = memo[(t.role, t.text)]
                if fs and fs[0].turn != t.index:
                    per_turn.append([_with_turn(f, t.index) for f in fs])
                else:
                    per_turn.append(list(fs))
            out.append(per_turn)
        return out

    def test_rule(self, rule_id: str, conversation: Conversation) -> RuleTrace:
        """Run one rule and show what it looked at, what it matched and why."""
        rule = self.policy.rule(rule_id)
        facts, _ = self._facts(conversation)
        steps: list[str] = []
        result = evaluate_rule(rule, facts, steps)
        return RuleTrace(rule, result, steps)


_make_finding = positional_maker(Finding)


def _with_turn(f: Finding, turn: int) -> Finding:
    """``dataclasses.replace(f, turn=turn)`` without re-running ``__init__`` (a finding
    copied to every repeat of a canned turn)."""
    return _make_finding(f.code, f.category, f.kind, f.phrase, f.text, f.start, f.end, turn,
                         f.severity, f.source, f.score, f.suggestion, f.basis, f.explanation,
                         f.role, f.subcategory)


def _predict_shared(model: Any, texts: list[str]) -> Sequence[ToneResult]:
    """``model.predict(texts)``, one result object per distinct text where the model can
    (results that only the Analyzer reads need no copies of their own)."""
    shared = getattr(model, "predict_shared", None)
    got: Sequence[ToneResult] = (shared(texts) if shared is not None
                                 else model.predict(texts))
    return got


# where an agent turn is cut into clauses for the hold model's evidence: punctuation, and
# pauses (runs of spaces) in ASR text
_CLAUSE = re.compile(r"[，。！？；,.!?;…]+|\s{1,}")


def _probability(model: Any, texts: Sequence[str], label: str) -> list[float]:
    lean = getattr(model, "label_probabilities", None)
    if lean is not None and label in getattr(model, "labels", ()):
        return [float(p) for p, _ in lean(list(texts), label)]
    return [float(r.probabilities.get(label, 0.0)) for r in model.predict(list(texts))]


def _load_model(spec: ModelSpec, name: str = "tone") -> Any:
    if spec is None or spec is False:
        return None
    if hasattr(spec, "predict"):
        return spec
    from .classify import default_model_path, load_model

    if spec == "default":
        path = default_model_path(name)
        return None if path is None else load_model(path)
    return load_model(Path(os.fspath(spec)))
