"""Real-time use (issue 7): one Analyzer shared by many threads, ConversationMonitor alerts
turn by turn and agreement with the batch path, suggestions on banned-phrase findings.

Behaviour only: speed is measured in ``benchmarks/`` (bench_latency, bench_throughput, …).
The default Analyzer is used as shipped: with the bundled reply-tone model when the package
has one (``src/phrasecheck/models/tone.json``), without a classifier otherwise.
"""

from __future__ import annotations

import csv
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from phrasecheck import Analyzer, read_conversations
from phrasecheck.monitor import Alert, ConversationMonitor
from phrasecheck.types import Conversation

HERE = Path(__file__).parent
ROOT = HERE.parent
DEMO = ROOT / "corpora" / "demo"
REPLIES = ROOT / "corpora" / "replies"

THREADS = 16
PER_THREAD = 200


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def shared() -> Analyzer:
    """The default Analyzer, warmed: the reference for single-threaded results."""
    return Analyzer().warm()


@pytest.fixture(scope="module")
def demo() -> list[Conversation]:
    convs = list(read_conversations(DEMO))
    assert len(convs) >= 50, "the demo corpus should read cleanly"
    return convs


@pytest.fixture(scope="module")
def messages(demo: list[Conversation]) -> list[tuple[str, str]]:
    """Realistic ``(role, text)`` messages: every reply of corpora/replies (agent replies)
    and every demo turn, without duplicates, in a fixed order."""
    seen: dict[str, str] = {}
    for path in sorted(REPLIES.glob("replies_*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                seen.setdefault(row["text"], "agent")
    for c in demo:
        for t in c.turns:
            seen.setdefault(t.text, t.role)
    out = [(role, text) for text, role in seen.items() if text.strip()]
    assert len(out) >= PER_THREAD * 4
    return out


def _thread_share(messages: list[tuple[str, str]], i: int) -> list[tuple[str, str]]:
    """Thread ``i``'s 200 messages: distinct from each other, mostly distinct from the other
    threads' (they wrap around only when the pool is smaller than 16 x 200)."""
    n = len(messages)
    return [messages[(i * PER_THREAD + k) % n] for k in range(PER_THREAD)]


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads very often so that unsafe interleavings get a chance to happen."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _check(analyzer: Analyzer, batch: list[tuple[str, str]]) -> list[Any]:
    out: list[Any] = []
    for role, text in batch:
        findings = [f.to_dict() for f in analyzer.check_text(text, role=role)]
        tone = (analyzer.classify([text])[0].to_dict()
                if analyzer.model is not None and role == "agent" else None)
        out.append((findings, tone))
    return out


def _run_threads(fn: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


# ------------------------------------------------------------------------- thread safety


def test_check_text_from_16_threads_equals_single_threaded(
        shared: Analyzer, messages: list[tuple[str, str]], busy_switching: None) -> None:
    shares = [_thread_share(messages, i) for i in range(THREADS)]
    expected = [_check(shared, share) for share in shares]
    assert any(fs for per_thread in expected for fs, _ in per_thread), "nothing was found"
    barrier = threading.Barrier(THREADS)

    def work(i: int) -> list[Any]:
        barrier.wait()
        return _check(shared, shares[i])

    got = _run_threads(work)
    for i in range(THREADS):
        assert got[i] == expected[i], f"thread {i} differs from the single-threaded run"


def test_score_from_16_threads_equals_single_threaded(
        shared: Analyzer, demo: list[Conversation], busy_switching: None) -> None:
    expected = {c.id: shared.score(c).to_dict() for c in demo}
    barrier = threading.Barrier(THREADS)

    def work(i: int) -> dict[str, Any]:
        barrier.wait()
        order = demo[i % len(demo):] + demo[:i % len(demo)]  # every thread its own order
        return {c.id: shared.score(c).to_dict() for c in order}

    for i, got in enumerate(_run_threads(work)):
        assert got == expected, f"thread {i} scored differently"


def test_monitors_in_16_threads_share_one_analyzer(
        shared: Analyzer, demo: list[Conversation], busy_switching: None) -> None:
    expected = {c.id: shared.score(c).to_dict() for c in demo}
    barrier = threading.Barrier(THREADS)

    def work(i: int) -> dict[str, Any]:
        barrier.wait()
        out = {}
        for c in demo[i::4] + demo[:i % 3]:
            m = ConversationMonitor(shared, c.id, c.metadata)
            for t in c.turns:
                m.add(t)
            out[c.id] = m.finalize().to_dict()
        return out

    for got in _run_threads(work):
        assert got == {k: expected[k] for k in got}


def test_first_use_race_loads_jieba_and_model_once(
        shared: Analyzer, messages: list[tuple[str, str]], busy_switching: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh Analyzer (jieba dictionary and model not loaded) hit by many threads at once:
    everything loads exactly once and every thread gets the single-threaded results."""
    import phrasecheck.classify as classify_mod

    fresh = Analyzer()
    tokenizer: Any = fresh.tokenizer
    assert not tokenizer.loaded and not fresh._model_loaded

    counts = {"jieba": 0, "model": 0}
    count_lock = threading.Lock()
    build = tokenizer._build

    def counted_build() -> Any:
        with count_lock:
            counts["jieba"] += 1
        return build()

    tokenizer._build = counted_build
    real_load_model = classify_mod.load_model

    def counted_load_model(path: Any) -> Any:
        with count_lock:
            counts["model"] += 1
        return real_load_model(path)

    monkeypatch.setattr(classify_mod, "load_model", counted_load_model)

    shares = [_thread_share(messages, i)[:25] for i in range(THREADS)]
    expected = [_check(shared, share) for share in shares]
    barrier = threading.Barrier(THREADS)

    tokens = [[shared.tokenizer.lcut(text) for _, text in share] for share in shares]

    def work(i: int) -> tuple[list[Any], list[list[str]]]:
        barrier.wait()  # all threads make their first call together
        # check_text needs jieba only for candidates that need a token-boundary check, so
        # half the threads segment first: the dictionary load is raced either way
        if i % 2:
            toks = [fresh.tokenizer.lcut(text) for _, text in shares[i]]
            return _check(fresh, shares[i]), toks
        found = _check(fresh, shares[i])
        return found, [fresh.tokenizer.lcut(text) for _, text in shares[i]]

    results = _run_threads(work)
    got = [r[0] for r in results]
    assert [r[1] for r in results] == tokens
    assert counts["jieba"] == 1
    assert counts["model"] == (0 if shared.model is None else 1)
    assert (fresh.model is None) == (shared.model is None)
    for i in range(THREADS):
        assert got[i] == expected[i], f"thread {i} differs from the single-threaded run"


# ---------------------------------------------------------------- ConversationMonitor


def test_monitor_finalize_equals_batch_score_on_demo_corpus(
        shared: Analyzer, demo: list[Conversation]) -> None:
    for c in demo:
        m = ConversationMonitor(shared, c.id, c.metadata)
        for t in c.turns:
            m.add(t)
        assert m.conversation.turns == c.turns
        assert m.finalize().to_dict() == shared.score(c).to_dict(), c.id


def test_monitor_add_by_role_and_text_equals_batch_score(
        shared: Analyzer, demo: list[Conversation]) -> None:
    """Feeding plain ``(role, text)`` pairs, as a chat system does, scores the same."""
    for c in demo[:20]:
        m = ConversationMonitor(shared, c.id, c.metadata)
        for t in c.turns:
            m.add(t.role, t.text, start=t.start, end=t.end, speaker=t.speaker)
        assert [t.text for t in m.turns] == [t.text for t in c.turns]
        if all(t.line is None for t in c.turns):
            assert m.finalize().to_dict() == shared.score(c).to_dict(), c.id
        else:  # lines are not part of a live turn; compare against the same turns
            assert m.finalize().to_dict() == shared.score(m.conversation).to_dict(), c.id


# hand-written conversations: (role, text) turns; alerts are checked per turn


def _feed(analyzer: Analyzer, turns: list[tuple[str, str]]
          ) -> tuple[ConversationMonitor, list[list[Alert]]]:
    m = ConversationMonitor(analyzer, "hand")
    alerts = [m.add(role, text) for role, text in turns]
    return m, alerts


# Lexicon-only alert kinds: the classifier's rude/evasive alerts depend on the model.
_LEXICON_ALERTS = {"banned_phrase", "missing_greeting", "no_apology", "no_wait",
                   "no_thanks_after_hold"}


def _kinds(alerts: list[list[Alert]]) -> list[list[str]]:
    return [[a.kind for a in turn if a.kind in _LEXICON_ALERTS] for turn in alerts]


def _failed(m: ConversationMonitor) -> set[str]:
    return {r.rule_id for r in m.finalize().rule_results if r.passed is False}


def test_monitor_missing_greeting_alert_after_the_agents_second_turn(shared: Analyzer) -> None:
    m, alerts = _feed(shared, [
        ("agent", "下一位，A056号。"),
        ("customer", "我想办理社保卡。"),
        ("agent", "材料带齐了吗？"),          # agent's 2nd turn: still no greeting
        ("customer", "带了。"),
        ("agent", "好的，办好了。"),
    ])
    assert _kinds(alerts) == [[], [], ["missing_greeting"], [], []]
    alert = next(a for a in alerts[2] if a.kind == "missing_greeting")
    assert alert.rule_id == "greeting" and alert.turn == 2 and alert.suggestion
    assert "greeting" in _failed(m)


@pytest.mark.parametrize("turns", [
    [("agent", "您好，请问您办理什么业务？"), ("customer", "我想办理社保卡。"),
     ("agent", "材料带齐了吗？")],
    [("agent", "下一位，A056号。"), ("customer", "我想办理社保卡。"),
     ("agent", "您好，材料带齐了吗？")],                  # greeting in the 2nd agent turn
])
def test_monitor_no_greeting_alert_when_greeted(shared: Analyzer,
                                                turns: list[tuple[str, str]]) -> None:
    m, alerts = _feed(shared, turns)
    assert not any("missing_greeting" in k for k in _kinds(alerts))
    assert "greeting" not in _failed(m)


def test_monitor_complaint_without_apology_within_two_agent_turns(shared: Analyzer) -> None:
    m, alerts = _feed(shared, [
        ("agent", "您好，请问您办理什么业务？"),
        ("customer", "你们怎么这么慢，我要投诉你们！"),    # complaint (turn 1)
        ("agent", "您的业务需要身份证原件。"),            # 1st agent turn after: no apology yet
        ("customer", "带了。"),
        ("agent", "这个需要本人来办。"),                  # 2nd: the window closes here
        ("customer", "好的。"),
        ("agent", "好的，办好了。"),
    ])
    assert _kinds(alerts) == [[], [], [], [], ["no_apology"], [], []]
    alert = next(a for a in alerts[4] if a.kind == "no_apology")
    assert alert.rule_id == "apology_after_complaint" and "第 1 轮" in alert.message
    assert alert.suggestion
    assert "apology_after_complaint" in _failed(m)


def test_monitor_complaint_answered_with_apology(shared: Analyzer) -> None:
    m, alerts = _feed(shared, [
        ("agent", "您好，请问您办理什么业务？"),
        ("customer", "你们怎么这么慢，我要投诉你们！"),
        ("agent", "您的业务需要身份证原件。"),
        ("customer", "带了。"),
        ("agent", "非常抱歉，给您添麻烦了，我马上为您处理。"),  # apology, 2nd agent turn
    ])
    assert not any("no_apology" in k for k in _kinds(alerts))
    assert "apology_after_complaint" not in _failed(m)


def test_monitor_hold_without_wait_and_back_without_thanks(shared: Analyzer) -> None:
    m, alerts = _feed(shared, [
        ("agent", "您好，请问您办理什么业务？"),
        ("customer", "我想查一下社保缴费记录。"),
        ("agent", "我帮您查一下。"),                      # hold cue, no 请稍等 before it
        ("agent", "查到了，您的业务已经办好了。"),          # back, no 感谢您的耐心等待
    ])
    # a hold is known only once the agent comes back (evidence on both sides of the wait),
    # so both alerts come with the returning turn; no_wait points at the announcing turn
    assert _kinds(alerts) == [[], [], [], ["no_wait", "no_thanks_after_hold"]]
    no_wait = next(a for a in alerts[3] if a.kind == "no_wait")
    assert no_wait.rule_id == "wait_before_hold" and no_wait.turn == 2
    back = next(a for a in alerts[3] if a.kind == "no_thanks_after_hold")
    assert back.rule_id == "thanks_after_hold" and back.suggestion
    assert {"wait_before_hold", "thanks_after_hold"} <= _failed(m)


def test_monitor_hold_done_right_raises_nothing(shared: Analyzer) -> None:
    m, alerts = _feed(shared, [
        ("agent", "您好，请问您办理什么业务？"),
        ("customer", "我想查一下社保缴费记录。"),
        ("agent", "请您稍等，我帮您查一下。"),
        ("agent", "感谢您的耐心等待，已经办好了。"),
    ])
    assert _kinds(alerts) == [[], [], [], []]
    assert not {"wait_before_hold", "thanks_after_hold"} & _failed(m)


# ------------------------------------------------------------------ banned + suggestions


def _banned_entries(analyzer: Analyzer) -> list[Any]:
    return [e for e in analyzer.lexicon if e.kind == "banned"]


@pytest.fixture(scope="module")
def banned_analyzer(shared: Analyzer, tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    """The default Analyzer when it has banned phrases; until the banned lexicon is
    committed, the defaults plus one banned entry written here."""
    if _banned_entries(shared):
        return shared
    path = tmp_path_factory.mktemp("lex") / "banned_test.yaml"
    path.write_text(
        "version: 1\nentries:\n"
        "  - {code: RT-BAN-1, phrase: 你自己看着办, category: rude, kind: banned,"
        " suggestion: 我来帮您看看怎么处理最合适, basis: prohibit.6}\n", encoding="utf-8")
    return Analyzer(lexicons=[path]).warm()


def _findable_banned(analyzer: Analyzer) -> Any:
    """A banned entry with a suggestion that is found in its own phrase."""
    for e in _banned_entries(analyzer):
        if e.suggestion and len(e.phrase) > 1 and any(
                f.code == e.code for f in analyzer.check_text(e.phrase, classify=False)):
            return e
    pytest.fail("no banned entry with a suggestion is found in its own phrase")


def test_monitor_banned_phrase_alert_on_that_turn(banned_analyzer: Analyzer) -> None:
    entry = _findable_banned(banned_analyzer)
    m, alerts = _feed(banned_analyzer, [
        ("agent", "您好，请问您办理什么业务？"),
        ("customer", "我想办理社保卡。"),
        ("agent", f"这个事情，{entry.phrase}。"),
        ("customer", "好的。"),
    ])
    assert [[a.kind for a in turn if a.kind == "banned_phrase"] for turn in alerts] == [
        [], [], ["banned_phrase"], []]
    alert = next(a for a in alerts[2] if a.kind == "banned_phrase")
    assert alert.turn == 2 and alert.rule_id == "banned_phrases"
    assert any(f.code == entry.code for f in alert.findings)
    assert all(f.turn == 2 and f.kind == "banned" for f in alert.findings)
    assert alert.suggestion == next(f.suggestion for f in alert.findings if f.suggestion)
    assert entry.phrase in alert.message
    assert "banned_phrases" in _failed(m)


def test_every_default_banned_entry_has_a_suggestion(shared: Analyzer) -> None:
    banned = _banned_entries(shared)
    if not banned:
        pytest.skip("the default lexicon has no banned phrases yet (lexicons/banned.yaml is "
                    "not committed)")
    missing = [f"{e.where}: {e.code} {e.phrase}" for e in banned
               if not (e.suggestion and e.suggestion.strip())]
    assert not missing, "banned entries without a suggestion:\n" + "\n".join(missing)


def test_every_default_banned_finding_carries_a_suggestion(
        shared: Analyzer, messages: list[tuple[str, str]]) -> None:
    banned = _banned_entries(shared)
    if not banned:
        pytest.skip("the default lexicon has no banned phrases yet (lexicons/banned.yaml is "
                    "not committed)")
    # every entry's own surface forms, plus every realistic message
    texts = [(f"那个{form}。", e.code) for e in banned for form in e.forms]
    texts += [(text, None) for role, text in messages if role == "agent"]
    found_codes: set[str] = set()
    without: list[str] = []
    for text, _ in texts:
        for f in shared.check_text(text, classify=False):
            if f.kind == "banned" and f.source == "lexicon":
                found_codes.add(f.code)
                if not (f.suggestion and f.suggestion.strip()):
                    without.append(f"{f.code} “{f.text}” in {text!r}")
    assert not without, "banned findings without a suggestion:\n" + "\n".join(without[:20])
    assert found_codes, "no banned phrase was found at all"


def test_test_rule_traces_what_the_rule_looked_at() -> None:
    """Untraced scoring skips building the trace; test_rule still gets every step."""
    from phrasecheck import Conversation, Turn

    conv = Conversation(id="t", turns=(
        Turn(index=0, role="agent", text="请问办什么业务"),
        Turn(index=1, role="customer", text="你们太慢了，我要投诉"),
        Turn(index=2, role="agent", text="您好，不知道"),
    ))
    analyzer = Analyzer(model=None)
    greeting = str(analyzer.test_rule("greeting", conv))
    assert "looked for greeting" in greeting and "turns [0, 2]" in greeting
    assert "found “您好” (GRT-001) in turn 2" in greeting
    banned = str(analyzer.test_rule("banned_phrases", conv))
    assert "FAIL" in banned and "“不知道”" in banned
