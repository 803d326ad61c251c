"""Holds: when did the agent make the customer wait, and how do we know?

A hold needs evidence on both sides of the wait, because the words alone mislead: 我看一下 is
a hold in 请稍等，我看一下 … (silence) … 让您久等了, but not in 请把身份证给我看一下 (the agent asks
for a document) or in 好的，我看一下。起诉状需要… (the agent looks and answers in one breath).

* **announced**: an agent turn holds a ``hold`` cue (我帮您查一下, 我去后台核实一下, 我帮您联系一下
  …; lexicon allow-lists drop 给我看一下 and the like), and the cue is not followed, in the
  same turn, by the answer itself (the agent looked and answered);
* AND **confirmed** by one of
  - a **silence** of at least ``hold_gap_seconds`` before the agent's next turn (timed
    transcripts), or
  - a **return**: the agent's next turn comes back from the wait, either saying so (让您久等了,
    感谢您的耐心等待, 查到了, 核实过了 … — categories ``wait_thanks`` and ``hold_return``), or
    with no customer turn in between that carries the talk on (好的 / 嗯 while waiting is
    fine): the customer waited and the agent spoke next.
* An **unannounced silence** also counts, as the worst kind of hold: at least
  ``silent_hold_seconds`` (default twice ``hold_gap_seconds``) of silence after a customer
  turn before the agent speaks again, in a timed transcript that is not a chat (chat replies
  are often that slow without anyone waiting on a line), unless the customer had said that
  they were the one going away (我找一下, 等我一下). It is anchored at the agent's last turn.
* Where neither a cue nor an announcement pattern finds anything (我进预约系统里翻翻), a
  **learned announcement** (the hold model, ``hold_model_threshold``) counts, for agent turns
  that speak of the agent, of waiting or of finding out and do not end asking the customer
  something; it needs firmer evidence of the other side: a silence, a return phrase, or the
  agent's next turn with only acknowledgements from the customer in between, that turn
  neither announcing the task itself nor only taking leave (再见).
* An announcement whose next agent turn, after only an acknowledgement, announces the task
  itself (我得确认一下，您稍等 … 好 … 我去问一下我们科长) is no hold of its own: the hold is the
  one that turn announces, and the wait phrase of the turn before counts for it.

Not holds: 您稍后会收到短信, 等一下师傅会给您打电话 (no announcement of leaving the line), a hold
cue followed by the customer carrying on the conversation, or by the answer in the same turn.

:func:`detect_holds` is linear in the number of turns. It reads only turns, their lexicon
findings (cue and required kinds) and two settings; it knows nothing of policies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .types import Finding, Turn

__all__ = ["AnnounceFn", "HoldEvent", "announcement", "detect_holds", "is_backchannel",
           "model_candidates"]

#: ``announce_score(position)``: the hold-announcement model's P(announcement) for the agent
#: turn at ``position`` and the words that weigh most for it, or ``None`` (no verdict: no
#: model, or a turn outside :func:`model_candidates`, which are all it needs to answer).
AnnounceFn = Callable[[int], "tuple[float, str] | None"]

#: What the agent says when coming back from a hold (lexicon categories).
RETURN_CATEGORIES = ("wait_thanks", "hold_return")
#: Wait phrases (请稍等) in the rest of an announcing turn do not count as "answered".
_WAIT_CATEGORIES = ("wait",)
#: More than this many characters of content after the cue, in the same turn, means the
#: agent looked and answered without leaving the line.
ANSWERED_CHARS = 16

# A customer turn during a hold that does not carry the conversation on: acknowledgements,
# thanks, "no hurry", fillers. Compared after dropping punctuation and spaces.
_BACKCHANNEL = re.compile(
    r"(?:好|好的|好嘞|好吧|嗯|嗯嗯|哦|噢|喔|啊|行|行的|可以|没事|没关系|不急|不着急|谢谢|谢谢你|"
    r"谢谢您|麻烦了|麻烦你了|麻烦您了|辛苦了|是|是的|对|对的|等着|我等着|我等一下|我等你|"
    r"我在|在的|在|您查|你查|您看|你看|查吧|看吧|问吧|去吧|喂|ok|OK|okay|en|嗯呢|好的呢|好滴|收到|"
    # urging is waiting too: 你快点 / 麻烦快一点
    r"麻烦|你|您|快点|快点儿|快一点|快些|尽快|抓紧|"
    # interjections and a leading 那 carry nothing: 哎 好 / 那你快点
    r"哎|唉|诶|欸|那)+")
_TAKE_YOUR_TIME = re.compile(r"[您你]?慢慢(?:查|来|看|找|弄)?")
# The customer, not the agent, steps away: a silence after this is theirs.
_CUSTOMER_AWAY = re.compile(r"我(找|翻|拿|看|查|问)(一下|一找|找|看|下)|等我(一下|一会|会儿|下)|"
                            r"我去(拿|找|取|问|看)|稍等我|你等(我|一下)|您等(我|一下)")


# what a leave-taking turn may hold beside its closing phrases (好的 / 不客气 / 那您)
_FAREWELL_REST_CHARS = 4

_SPACE = re.compile(r"\s")


def _without_spaces(text: str) -> tuple[str, Sequence[int]]:
    """``text`` without whitespace, and the index in ``text`` of every character kept."""
    if _SPACE.search(text) is None:  # most turns: nothing to drop
        return text, range(len(text))
    where = [i for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(text[i] for i in where), where


def _customer_away(text: str) -> bool:
    """The customer's turn ends with them stepping away (我找一下 … with nothing after)."""
    if "我" not in text and "等" not in text:  # every pattern needs one of them
        return False
    flat = _squash(text)
    ends = [m.end() for m in _CUSTOMER_AWAY.finditer(flat)]
    return bool(ends) and len(flat) - ends[-1] <= 4


class _SquashTable(dict[int, "int | None"]):
    """``str.translate`` table that deletes spaces, punctuation and symbols, filled in as
    code points are met (a hit is a lookup in C; the table never holds more than the code
    points seen)."""

    def __missing__(self, code: int) -> int | None:
        ch = chr(code)
        kept = None if ch.isspace() or unicodedata.category(ch)[0] in "PZS" else code
        self[code] = kept
        return kept


_SQUASH = _SquashTable()


def _squash(text: str) -> str:
    """``text`` without spaces, punctuation and symbols."""
    return text.translate(_SQUASH)


def is_backchannel(text: str) -> bool:
    """A customer turn that only acknowledges (好的 / 嗯嗯 / 不急您慢慢查). Remembered for
    short turns: the same few acknowledgements come back all the time."""
    return _short_backchannel(text) if len(text) <= 32 else _backchannel(text)


def _backchannel(text: str) -> bool:
    if (len(text) > _BACKCHANNEL_CHARS and "慢" not in text
            and _HANZI.subn("", text)[1] > _BACKCHANNEL_CHARS):
        # more Chinese characters than any acknowledgement holds, and no 慢慢: what the
        # test below finds after squashing (a character is never squashed away), found
        # without squashing a long turn character by character
        return False
    flat = _squash(text)
    if not flat:
        return True
    if len(flat) > _BACKCHANNEL_CHARS and "慢慢" not in flat:
        return False  # too long, and nothing the next line could take out
    flat = _TAKE_YOUR_TIME.sub("", flat)
    return not flat or (len(flat) <= _BACKCHANNEL_CHARS
                        and _BACKCHANNEL.fullmatch(flat) is not None)


#: the longest acknowledgement, without spaces and punctuation (好的好的谢谢您了 …)
_BACKCHANNEL_CHARS = 12
_HANZI = re.compile("[\u4e00-\u9fff]")  # CJK ideographs: letters (Lo), never squashed


_short_backchannel = lru_cache(maxsize=4096)(_backchannel)


@dataclass(frozen=True, slots=True)
class HoldEvent:
    """One hold, with the evidence that makes it one.

    ``position``/``return_position`` are positions in the conversation's turns (the announcing
    or last agent turn, and the agent turn that comes back); ``turn``/``return_turn`` their
    turn indexes. ``how`` is ``announced+silence``, ``announced+return`` or ``silence``.
    """

    position: int
    turn: int
    return_position: int | None
    return_turn: int | None
    how: str
    cue: str | None = None
    cue_code: str | None = None
    gap: float | None = None
    return_cue: str | None = None
    #: P(announcement) from the hold-announcement model, when the model found it
    score: float | None = None

    def explain(self) -> str:
        parts = []
        if self.cue is not None and self.score is not None:
            parts.append(f"turn {self.turn} announces a hold, model P={self.score:.2f} "
                         f"(“{self.cue}”)")
        elif self.cue is not None:
            parts.append(f"turn {self.turn} announces “{self.cue}” ({self.cue_code})")
        else:
            parts.append(f"no announcement after turn {self.turn}")
        if self.gap is not None:
            parts.append(f"{self.gap:.0f}s silence before turn {self.return_turn}")
        if self.return_cue is not None:
            parts.append(f"turn {self.return_turn} comes back with “{self.return_cue}”")
        return "hold: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"turn": self.turn, "return_turn": self.return_turn, "how": self.how,
                "cue": self.cue, "cue_code": self.cue_code, "gap": self.gap,
                "return_cue": self.return_cue, "score": self.score,
                "explanation": self.explain()}


def _end(t: Turn) -> float | None:
    return t.end if t.end is not None else t.start


def _silence_before(turns: Sequence[Turn], q: int) -> float | None:
    """Seconds between the end of turn ``q-1`` and the start of turn ``q`` (None untimed)."""
    if q == 0 or turns[q].start is None:
        return None
    prev_end = _end(turns[q - 1])
    if prev_end is None:
        return None
    return float(turns[q].start) - float(prev_end)  # type: ignore[arg-type]


# An agent saying it is about to look something up, check, ask or contact someone, in words
# the lexicon's hold cues do not list (我调一下您近两个月的缴费记录, 我这边马上帮您核实).
_SUBJECT = r"(?:我|我这边|这边|我们|咱们)"
_MODAL = r"(?:先|再|马上|现在|这就|就|立刻|重新|一起|要|需要|得|来|帮|给|为|替|您|你|直接)*"
# where the agent goes or works: 我在病案系统里查一下 / 我到后台核实 / 我去后面给您制证, or
# whom it calls: 我打个内线问问后台的同事 / 我打个电话给网点核实一下
_WHERE = (r"(?:(?:去|到|在|上)[^，。！？；,.!?;]{0,8}?"
          r"|打个?(?:内线|电话)(?:给[^，。！？；,.!?;]{0,8}?)?)?")
# what the agent then does, not done yet (no 好 / 完 / 了 after it)
_TASK = (r"(?:申请|登记|提交|办理|转接|联系|上报|反馈|核实|核对|查询|调取|请示|切换|申报|打印|"
         r"操作|制证|制卡|录入|冻结|设置|处理|开具|补打|加急)(?!好|完|过|了|成功)")
# the agent says what someone else will look up (请他在系统里帮您核一下 / 让同事查一下)
_DELEGATE = (r"(?:请|让|叫)(?:他|她|他们|她们|同事|师傅)[^，。！？；,.!?;]{0,12}?"
             r"(?:查|核|问|确认|调|看|找)(?:一下|一查|一找|下)")
# someone other than the customer: not 您 / 你, unless it is 您那片的… / 您家… / 您单位…
_NOT_YOU = r"(?:(?![您你])|[您你](?=那|这|家|的|单位|公司|小区|社区|村))"
# looking something up, whose result the agent brings back
_LOOKUP = (
    # 我(先)帮您查一下 / 我去后台调一下 / 我去制卡室问问 / 我在系统里查一下 / 我去审判庭催一下
    _SUBJECT + _MODAL + _WHERE + _MODAL +
    r"(?:查询|查|核实|核对|确认|调取|调|问|咨询|联系|找|核算|算|试|刷新|切换|看|催|拿|取|核)"
    r"(?:一下|一查|一找|一问|下|查|问|找|看|算)"
    # 我去找科长 / 我去拿一下 / 我去后面库房拿一张新卡 / 我进去跟主任请示一下: the agent goes,
    # straight or to a back room, maybe to someone (not 您去三号窗口找…, a referral: the
    # place must be one the agent works from)
    r"|" + _SUBJECT + _MODAL + r"(?:进|上|下|过)?(?:去|到)(?:(?:后面|后边|后台|里面|里边|库房|"
    r"仓库|档案室|楼上|楼下|隔壁|办公室|机房|领导那|科长那|主任那)[^，。！？；,.!?;]{0,4}?)?"
    r"(?:(?:跟|和|向)[^，。！？；,.!?;]{1,4}?)?"
    r"(?:找|问|拿|取|请示|叫|调|查|核实|确认|催)"
    # 我给财务科打电话核实 / 我打个电话给社区民警，请他帮您核一下: the agent phones someone to
    # look something up now. Not 我给您打电话 (a call back to the customer; 您那片的 / 您家的 /
    # 您单位 name someone else), not 我给她打个电话说一声 (a handover for a referral), not
    # 我打电话问了 (done already)
    r"|" + _SUBJECT + _MODAL + r"(?:打个?(?:内线|电话)(?:给" + _NOT_YOU +
    r"[^，。！？；,.!?;]{1,10}?)?|给" + _NOT_YOU + r"[^，。！？；,.!?;]{1,10}?打个?(?:内线|电话))"
    r"(?:(?:问问?|核实|核对|确认|查一下|核一下|查询)(?![了过好完您你])"
    r"|[，,]?(?=" + _DELEGATE + r"))"
    # 我再找物流组对一下 / 我找同事核一下: the agent asks someone else (not 找您…)
    r"|" + _SUBJECT + _MODAL + r"找(?![了过到不着])" + _NOT_YOU + r"[^，。！？；,.!?;]{1,8}?"
    r"(?:对|问|核|查|确认|核实|核对)(?:一下|一问|下|问)(?![了过好完])")
_IS_LOOKUP = re.compile(_LOOKUP)
_ANNOUNCE = re.compile(
    _LOOKUP +
    # 我帮您申请转回 / 我这边切换系统 / 我在系统里给您设置 (an action the agent carries out)
    r"|" + _SUBJECT + _MODAL + _WHERE + _MODAL + _TASK +
    # 我把工单录进去 / 我把材料提交到后台 / 我把起诉状上的信息调出来
    r"|" + _SUBJECT + _MODAL + r"把[^，。！？；,.!?;]{1,14}?"
    r"(?:录进|录入|录一下|提交|调出|调一下|打印|登记|转给|转到|发给|发到|报给|报上|上传|传给|"
    r"改一下|改过来|处理一下|拿到|拿去|送到|送去|交给)")
_CLAUSE_END = re.compile(r"[，。！？；,.!?;…]")
# every pattern announcement starts with a _SUBJECT: a cheap test before the full one
_MAY_ANNOUNCE = re.compile(r"我|这\s*边|咱")
# 交回这边登记一下就可以了: the agent tells the customer what to do, and does not leave
_DELEGATED = re.compile(_DELEGATE)
_INSTRUCTION = re.compile(r"就可以|就行|即可")
_ASKS = re.compile(r"(吗|呢|么|是不是|对不对|对吧|可以吗|好吗|行吗)?[?？]\W*$|(吗|呢)\W*$")


def _clause_after(text: str, end: int) -> str:
    clause = _CLAUSE_END.search(text, end)
    return text[end:clause.start() if clause else len(text)]


_REMEMBERED_CHARS = 400  # longer turns are scanned each time (the cache stays small)


def _pattern_cues(text: str) -> tuple[tuple[int, int, str, str], ...]:
    """Announcements the patterns find in ``text`` (spaces ignored: ASR text 我 帮 您 查 一下),
    as ``(start, end, words, "pattern")``. A function of the text alone, remembered for
    turns of up to ``_REMEMBERED_CHARS`` characters: agent turns repeat (scripts, canned
    replies)."""
    if len(text) <= _REMEMBERED_CHARS:
        return _remembered_pattern_cues(text)
    return _scan_pattern_cues(text)


def _scan_pattern_cues(text: str) -> tuple[tuple[int, int, str, str], ...]:
    flat, where = _without_spaces(text)
    out = []
    for m in _ANNOUNCE.finditer(flat):
        a, b = where[m.start()], where[m.end() - 1] + 1
        out.append((a, b, text[a:b], "pattern"))
    return tuple(out)


_remembered_pattern_cues = lru_cache(maxsize=8192)(_scan_pattern_cues)


def _announce_cue(turn: Turn, found: Sequence[Finding]) -> tuple[str, str, int] | None:
    """The last announcement of a hold in an agent turn as ``(text, code, end)``, unless the
    agent answered after it in the same turn or ends the turn asking the customer something.

    The rest of the announcing clause is what is being looked up (我帮您查一下这个片区今天有没有
    停电计划); the clauses after it, beyond wait phrases, are an answer.
    """
    text = turn.text
    cues = [(f.start, f.end, f.text, f.code) for f in found if f.category == "hold"]
    if not cues and not _MAY_ANNOUNCE.search(text):
        return None  # no subject an announcement could start with (我 / 这边 / 咱们)
    cues += _pattern_cues(text)
    cues = [c for c in cues if not _INSTRUCTION.search(_clause_after(text, c[1]))]
    if not cues:
        return None
    _start, end, cue_text, code = max(cues, key=lambda c: (c[1], c[1] - c[0]))
    clause = _CLAUSE_END.search(text, end)
    tail = text[clause.end():] if clause else ""
    waits_after = False
    for f in found:  # a 请稍等 after the cue is part of the announcement, not an answer
        if f.category in _WAIT_CATEGORIES and f.start >= end:
            tail = tail.replace(f.text, "")
            waits_after = True
    # an agent who asks the customer to wait after the cue has not answered yet, however much
    # it explains first (我帮您提交，系统审核一般几分钟出结果，您稍等一下，结果出来我告诉您)
    # nor has one who goes on to say what someone else will look up for it (我打个电话给社区民警，
    # 请他在系统里帮您核一下登记信息): the task, not an answer
    if (len(_squash(tail)) > ANSWERED_CHARS and not waits_after
            and not _DELEGATED.search(tail)):
        return None
    if _ASKS.search(text[end:]):
        return None  # 我确认一下您的手机号是尾号6612吗？ asks the customer; it does not leave
    return cue_text, code, end


def announcement(turn: Turn, found: Sequence[Finding]) -> str | None:
    """The words with which an agent turn announces a hold (a hold only once the agent
    comes back, see :func:`detect_holds`), or ``None``."""
    got = _announce_cue(turn, found)
    return None if got is None else got[0]


def _model_may_judge(turns: Sequence[Turn], findings: Sequence[Sequence[Finding]], p: int,
                     q: int, gap_s: float, q_announces: bool) -> bool:
    """Whether the hold model is asked about agent turn ``p`` (which no cue or pattern
    announces), the agent's next turn being ``q``. A learned announcement needs firmer
    evidence of the other side than a cue does: a silence of ``gap_s``, a return phrase in
    ``q`` (让您久等了, 查到了), or ``q`` following ``p`` with nothing from the customer but
    acknowledgements (好的 / 嗯嗯 / 那你快点, :func:`is_backchannel`) and not itself the next
    announcement (``q_announces``). :func:`model_candidates` applies the same tests inline.
    (Only the model's probability separates 我进系统翻翻 … 好 … 礼拜四还有号 from a
    statement the customer acknowledges; cross-validation on the training conversations
    chose to ask it there too: corpora/context/EVAL.md, section 1b.)"""
    silence = _silence_before(turns, q)
    if silence is not None and silence >= gap_s:
        return True
    if any(f.category in RETURN_CATEGORIES for f in findings[q]):
        return True
    return not q_announces and not _farewell_only(turns[q].text, findings[q]) and all(
        turns[k].role != "customer" or is_backchannel(turns[k].text) for k in range(p + 1, q))


def _farewell_only(text: str, found: Sequence[Finding]) -> bool:
    """An agent turn that only takes leave (再见。 / 好的，您慢走。 / 不客气，再见): the end of
    the call, not a return from a hold (就在大厅那边，您过去问问。 … 好吧。 … 再见。)."""
    closing = [f for f in found if f.category == "closing"]
    if not closing:
        return False
    rest = text
    for f in closing:
        rest = rest.replace(f.text, "")
    return len(_squash(rest)) <= _FAREWELL_REST_CHARS


def _model_may_ask(text: str) -> bool:
    """An agent turn the hold model may call an announcement: one that speaks of the agent,
    of waiting or of finding something out (:data:`_MAY_HOLD`: 礼拜四上午还有号。 cannot
    announce anything), and not one that ends by asking the customer something (the
    customer is to answer, not to wait: the patterns' rule too; none of the training
    conversations' holds ends so)."""
    return _MAY_HOLD.search(text) is not None and not _asks_at_end(text)


# Words every announcement of a hold holds one of: the agent (我 / 这边 / 帮您), waiting (稍 /
# 等 / 一会 / 别挂) or finding out (查 / 问 / 核 / 调 / 系统). All 215 hold turns of the
# training conversations have one; a third of the agent turns the model would otherwise be
# asked about in a batch (statements such as 礼拜四上午还有号) have none.
_MAY_HOLD = re.compile(r"我|这\s*边|咱|帮|给您|替您|为您|稍|等|一会|一下|马上|片刻|别挂|查|问|看|"
                       r"找|联系|核|确认|系统|后台|请示|申请|反馈|催|调|翻|电话|内线")


def _asks_at_end(text: str) -> bool:
    """``_ASKS.search(text)``, looking only at the end of the text: every match of _ASKS is
    the run of non-word characters that ends the text (a ？ is one) and at most three word
    characters before it, so a long turn is not searched from every position."""
    start = len(text)
    while start and not (text[start - 1].isalnum() or text[start - 1] == "_"):  # \W
        start -= 1
    return _ASKS.search(text, max(0, start - 4)) is not None


def model_candidates(turns: Sequence[Turn], findings: Sequence[Sequence[Finding]],
                     settings: Mapping[str, Any] | None = None) -> list[int]:
    """Positions of the agent turns :func:`detect_holds` would ask the hold model about
    (with ``settings.hold_model_threshold`` set): so that a caller can score them all in one
    batch beforehand. The same tests as :func:`_model_may_judge`, inlined and cheapest
    first: this runs on every agent turn of a batch."""
    settings = settings or {}
    gap_s = _settings_seconds(settings, "hold_gap_seconds", 30.0)
    assert gap_s is not None
    out = []
    p: int | None = None  # the agent turn before
    p_cue: Any = _UNKNOWN  # its announcement, once found (each agent turn's at most once)
    between: list[int] = []  # the customer turns since then
    for q, t in enumerate(turns):
        if t.role != "agent":
            if t.role == "customer":
                between.append(q)
            continue
        q_cue: Any = _UNKNOWN
        if p is not None:
            confirmed = False
            if t.start is not None:
                silence = _silence_before(turns, q)
                confirmed = silence is not None and silence >= gap_s
            if not confirmed:
                for f in findings[q]:
                    if f.category in RETURN_CATEGORIES:
                        confirmed = True
                        break
                else:  # most agent turns end here at once: the customer said more than 好的
                    confirmed = True
                    for k in between:
                        if not is_backchannel(turns[k].text):
                            confirmed = False
                            break
                    if confirmed:
                        q_cue = _announce_cue(t, findings[q])
                        confirmed = q_cue is None and not _farewell_only(t.text, findings[q])
            if confirmed and _model_may_ask(turns[p].text):
                if p_cue is _UNKNOWN:
                    p_cue = _announce_cue(turns[p], findings[p])
                if p_cue is None:
                    out.append(p)
        p, p_cue = q, q_cue
        between = []
    return out


_UNKNOWN = object()


def _settings_seconds(settings: Mapping[str, Any], key: str, default: float | None
                      ) -> float | None:
    value = settings.get(key, default)
    if value is None:
        return None
    return float(value)


def detect_holds(turns: Sequence[Turn], findings: Sequence[Sequence[Finding]],
                 settings: Mapping[str, Any] | None = None,
                 channel: str | None = None,
                 announce_score: AnnounceFn | None = None) -> list[HoldEvent]:
    """Every hold in a conversation, in order (see the module docstring for the evidence).

    ``findings[i]`` are the lexicon findings (cue and required kinds) of ``turns[i]``.
    Settings: ``hold_gap_seconds`` (default 30), ``silent_hold_seconds`` (default twice the
    gap; ``null`` switches unannounced silences off).
    """
    settings = settings or {}
    gap_s = _settings_seconds(settings, "hold_gap_seconds", 30.0)
    assert gap_s is not None
    silent_s = _settings_seconds(settings, "silent_hold_seconds", 2 * gap_s)
    model_s = _settings_seconds(settings, "hold_model_threshold", None)
    n = len(turns)
    next_agent: list[int | None] = [None] * n
    nxt: int | None = None
    for i in range(n - 1, -1, -1):
        next_agent[i] = nxt
        if turns[i].role == "agent":
            nxt = i
    events: list[HoldEvent] = []
    returned_at: set[int] = set()
    anchored: set[int] = set()
    # each agent turn's announcement, found once: a turn is also the next one's return
    cues = [_announce_cue(t, findings[i]) if t.role == "agent" else None
            for i, t in enumerate(turns)]
    for p, t in enumerate(turns):
        if t.role != "agent":
            continue
        announced = cues[p]
        q = next_agent[p]
        if q is None:
            continue
        score: float | None = None
        if announced is None:
            if announce_score is None or model_s is None:
                continue
            # the model's score first (a lookup when the caller scored the candidates in a
            # batch, None for the others), then whether it may judge this turn at all
            got = announce_score(p)
            if (got is None or got[0] < model_s or not _model_may_ask(t.text)
                    or not _model_may_judge(turns, findings, p, q, gap_s,
                                            cues[q] is not None)):
                continue
            score, cue_text = round(got[0], 4), got[1]
            announced = (cue_text, "model", len(t.text))
        cue_text, cue_code, _ = announced
        silence = _silence_before(turns, q)
        back = next((f for f in findings[q] if f.category in RETURN_CATEGORIES), None)
        between = [k for k in range(p + 1, q) if turns[k].role == "customer"]
        if score is not None:
            how = "announced+silence" if silence is not None and silence >= gap_s else \
                "announced+return"
        elif silence is not None and silence >= gap_s:
            how = "announced+silence"
        elif back is not None or (
                all(is_backchannel(turns[k].text) for k in between)
                # 我得确认一下，您稍等 … 好 … 我去问一下我们科长: the agent's next turn goes
                # on to the task, no return; the hold is the one that turn announces
                and cues[q] is None
                # the agent's very next message after a task announced with nothing said to
                # wait (我马上反馈让运营补上 … [文件]) is no return from a hold; after a
                # look-up (我去后台看一下 … 您提交的号码第十四位…) it is
                and (between or cue_code != "pattern" or _IS_LOOKUP.search(cue_text)
                     or any(f.category in _WAIT_CATEGORIES for f in findings[p]))):
            how = "announced+return"
        else:
            continue
        events.append(HoldEvent(p, t.index, q, turns[q].index, how, cue_text, cue_code,
                                None if how == "announced+return" else round(silence or 0, 3),
                                back.text if back else None, score))
        returned_at.add(q)
        anchored.add(p)
    if silent_s is not None and channel != "chat":
        last_agent: int | None = None
        for q, t in enumerate(turns):
            if t.role == "agent":
                if (q not in returned_at and last_agent is not None
                        and last_agent not in anchored and turns[q - 1].role == "customer"):
                    silence = _silence_before(turns, q)
                    if (silence is not None and silence >= silent_s
                            and not _customer_away(turns[q - 1].text)):
                        back = next((f for f in findings[q] if f.category in RETURN_CATEGORIES),
                                    None)
                        events.append(HoldEvent(last_agent, turns[last_agent].index, q, t.index,
                                                "silence", None, None, round(silence, 3),
                                                back.text if back else None))
                last_agent = q
        events.sort(key=lambda e: (e.position, e.return_position or 0))
    return events
