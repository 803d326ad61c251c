"""The HTML report: one self-contained file a QA lead opens in any browser, offline.

Inline CSS, a little vanilla JavaScript (table sort and filter, opening a conversation from its
link) and hand-drawn SVG charts; no network access, no external resource of any kind, and a
Content-Security-Policy that lets only the report's own script run (by its hash), so even a
conversation that smuggled markup past the escaping could not execute anything.

The page is Jinja2 templates (``templates/report.html``, ``templates/conversation.html``)
with autoescaping on, so every value is escaped unless it is markup built here on purpose:
the SVG charts, the style sheet and the script (``templates/report.css``, ``report.js``).
This module works out what to show (redaction, titles, which findings a rule rests on, the
nesting of highlights); the templates say how it looks.

The conversations are streamed twice from ``records()``: once for the overview, charts and
tables, once for the per-conversation sections, which the template renders one at a time as
they come. Only small per-conversation rows (id, score, grade, …) are kept between the
passes, in a temporary file, so memory stays flat for any number of conversations.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import html
import json
import math
import os
import statistics
import tempfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import IO, TYPE_CHECKING, Any, Literal

from ..lexicon import Lexicon
from ..policy import Policy
from ..types import Conversation, ConversationScore, Evidence, Finding, ReadError, RuleResult, Turn
from ._atomic import atomic_write
from .redact import redact as redact_text

if TYPE_CHECKING:
    import jinja2

__all__ = ["DEFAULT_TITLE", "Records", "write_html_report"]

DEFAULT_TITLE = "phrasecheck 服务用语质检报告 (QA report)"

Records = Callable[[], Iterable[tuple[Conversation, ConversationScore]]]

ROLE_LABELS = {"agent": "坐席", "customer": "客户", "system": "系统", "unknown": "未知"}
KIND_LABELS = {"required": "规范用语 required", "banned": "服务忌语 banned", "cue": "线索 cue",
               "classifier": "语气模型 tone model"}
OUTCOME_LABELS = {"pass": "通过 pass", "fail": "未通过 fail", "na": "不适用 n/a"}
OUTCOME_SHORT = {"pass": "通过", "fail": "未通过", "na": "不适用"}
_MARK_CLASS = {"required": "req", "banned": "ban", "cue": "cue"}
_MARK_PRIORITY = {"ban": 3, "cue": 2, "req": 1}
_MAX_CHART_BARS = 15


def esc(value: object) -> str:
    """Escape for HTML text and (double- or single-quoted) attribute values."""
    return html.escape(str(value), quote=True)


# ------------------------------------------------------------------------------ public


def write_html_report(
    path: str | os.PathLike[str],
    records: Records,
    *,
    errors: Iterable[ReadError | Mapping[str, Any]] = (),
    policy: Policy | None = None,
    lexicon: Lexicon | None = None,
    redact: bool = True,
    title: str = DEFAULT_TITLE,
    fail_under: float | None = None,
    sections: Literal["all", "failed"] = "all",
) -> None:
    """Write the HTML report to ``path`` (atomically).

    ``records`` is a zero-argument callable returning a fresh iterable of
    ``(Conversation, ConversationScore)`` pairs; it is called twice and must yield the same
    conversations in the same order both times (a ``ValueError`` says so otherwise).
    ``errors`` are the files or lines that could not be read. ``policy`` and ``lexicon``, when
    given, supply rule titles, grade order, category titles and the text of basis clauses.
    ``redact`` masks personal data in every text shown (same length, so highlights still
    line up). A conversation counts as failed when vetoed or scoring below ``fail_under``
    (default: the policy's lowest passing grade, else 60). ``sections="failed"`` writes the
    per-conversation sections of failed conversations only (for very large batches; the
    table still lists every conversation).
    """
    if not callable(records):
        raise TypeError("records must be a zero-argument callable returning a fresh iterator "
                        "of (Conversation, ConversationScore) pairs (it is read twice), "
                        f"got {type(records).__name__}")
    if sections not in ("all", "failed"):
        raise ValueError(f"sections must be 'all' or 'failed', got {sections!r}")
    ctx = _Context.make(policy, lexicon, redact, fail_under)
    ctx.sections = sections
    error_list = [_error_tuple(e) for e in errors]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as rows_file:
        agg = _first_pass(records(), ctx, rows_file)
        rows_file.seek(0)
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as out:
            _write_document(out, records, ctx, agg, rows_file, error_list, title)


# ------------------------------------------------------------------------------ context


@dataclass
class _Context:
    policy: Policy | None
    lexicon: Lexicon | None
    redact: bool
    threshold: float
    rule_titles: dict[str, str] = field(default_factory=dict)
    rule_bases: dict[str, str | None] = field(default_factory=dict)
    rules_by_category: dict[str, list[str]] = field(default_factory=dict)
    classifier_rules: dict[str, list[str]] = field(default_factory=dict)
    bases_used: dict[str, None] = field(default_factory=dict)  # ordered set
    sections: str = "all"

    @classmethod
    def make(cls, policy: Policy | None, lexicon: Lexicon | None, redact: bool,
             fail_under: float | None) -> _Context:
        if fail_under is not None:
            threshold = float(fail_under)
        elif policy is not None and len(policy.grades) >= 2:
            threshold = policy.grades[-2].min
        else:
            threshold = 60.0
        ctx = cls(policy, lexicon, redact, threshold)
        if policy is not None:
            for r in policy.rules:
                ctx.rule_titles[r.id] = r.title
                ctx.rule_bases[r.id] = r.basis
                if r.kind in ("forbid", "require", "context", "all", "any", "none"):
                    for cat in sorted(r.categories()):
                        ctx.rules_by_category.setdefault(cat, []).append(r.id)
                elif r.kind == "classifier":
                    ctx.classifier_rules.setdefault(str(r.spec.get("label")), []).append(r.id)
        return ctx

    def red(self, text: object) -> str:
        s = "" if text is None else str(text)
        return redact_text(s) if self.redact else s

    def category_title(self, code: str) -> str:
        if self.lexicon is not None:
            cat = self.lexicon.categories.get(code)
            if cat is not None and cat.title:
                return f"{cat.title} {code}"
        return code

    def basis_text(self, basis_id: str | None) -> str:
        if not basis_id:
            return ""
        b = self.lexicon.bases.get(basis_id) if self.lexicon is not None else None
        if b is None:
            return basis_id
        where = f"（{b.source}）" if b.source else ""
        return f"{b.title}{where}：{b.text}"

    def basis_title(self, basis_id: str | None) -> str:
        if not basis_id:
            return ""
        b = self.lexicon.bases.get(basis_id) if self.lexicon is not None else None
        return b.title if b is not None else basis_id

    def failed(self, s: ConversationScore) -> bool:
        return bool(s.vetoed) or s.score < self.threshold


def _error_tuple(e: ReadError | Mapping[str, Any]) -> tuple[str, str, str]:
    if isinstance(e, Mapping):
        path, line, reason = e.get("path", ""), e.get("line"), e.get("reason", "")
    else:
        path, line, reason = e.path, e.line, e.reason
    return str(path), "" if line is None else str(line), str(reason)


# ------------------------------------------------------------------------------ pass 1


@dataclass
class _Aggregates:
    n: int = 0
    total: float = 0.0
    scores: array[float] = field(default_factory=lambda: array("d"))
    ids: array[int] = field(default_factory=lambda: array("L"))
    grades: Counter[str] = field(default_factory=Counter)
    vetoed: int = 0
    failed: int = 0
    rule_failures: Counter[str] = field(default_factory=Counter)
    rule_titles: dict[str, str] = field(default_factory=dict)
    categories: Counter[str] = field(default_factory=Counter)
    agents: dict[str, list[float]] = field(default_factory=dict)  # n, sum, failed, min, viol.
    has_agent: bool = False
    has_domain: bool = False


def _meta(c: Conversation, s: ConversationScore, key: str) -> str | None:
    v = c.metadata.get(key)
    if v is None:
        v = s.metadata.get(key)
    return None if v is None or v == "" else str(v)


def _first_pass(items: Iterable[tuple[Conversation, ConversationScore]], ctx: _Context,
                rows: IO[str]) -> _Aggregates:
    agg = _Aggregates()
    for conv, sc in items:
        agg.n += 1
        agg.total += sc.score
        agg.scores.append(sc.score)
        agg.ids.append(zlib.crc32(conv.id.encode("utf-8", "surrogatepass")))
        agg.grades[sc.grade] += 1
        agg.vetoed += bool(sc.vetoed)
        failed = ctx.failed(sc)
        agg.failed += failed
        failed_rules = [r.rule_id for r in sc.rule_results if r.passed is False]
        for r in sc.rule_results:
            if r.passed is False:
                agg.rule_failures[r.rule_id] += 1
                if r.title and r.rule_id not in agg.rule_titles:
                    agg.rule_titles[r.rule_id] = r.title
        for f in sc.findings:
            if f.kind != "required":
                agg.categories[f.category] += 1
            if f.basis:
                ctx.bases_used[f.basis] = None
        for r in sc.rule_results:
            b = r.basis or ctx.rule_bases.get(r.rule_id)
            if b:
                ctx.bases_used[b] = None
        agent, domain = _meta(conv, sc, "agent_id"), _meta(conv, sc, "domain")
        if agent is not None:
            agg.has_agent = True
            a = agg.agents.setdefault(agent, [0, 0.0, 0, math.inf, 0])
            a[0] += 1
            a[1] += sc.score
            a[2] += failed
            a[3] = min(a[3], sc.score)
            a[4] += len(failed_rules)
        agg.has_domain |= domain is not None
        n_viol = sum(1 for f in sc.findings if f.kind != "required")
        rows.write(json.dumps([ctx.red(conv.id), sc.score, sc.grade, bool(sc.vetoed), failed,
                               failed_rules, n_viol, agent, domain], ensure_ascii=False))
        rows.write("\n")
    return agg


# ------------------------------------------------------------------------------ templates


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The report's Jinja2 environment (built once): templates from the package, escaping on.

    Jinja2 escapes every value with markupsafe, which spells ``'`` and ``"`` as ``&#39;`` and
    ``&#34;``; this report has always used the standard library's ``html.escape``
    (``&#x27;``, ``&quot;``), so ``finalize`` escapes a text holding a quote with
    :func:`esc` and marks it safe. The two escape ``& < >`` alike, so any other text is left
    to Jinja2's (fast) escaping. Either way every value is escaped unless it is markup
    already (``Markup``, a macro's output). ``StrictUndefined`` turns a misspelt name into
    an error rather than an empty string.
    """
    import jinja2
    from markupsafe import Markup

    def finalize(value: Any) -> Any:
        if type(value) is str and ("'" in value or '"' in value):
            return Markup(esc(value))
        return value

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("phrasecheck.reports", "templates"),
        autoescape=True, finalize=finalize, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["fmt"] = _fmt
    return env


def _asset(name: str) -> str:
    """A file of ``templates/`` as text (the style sheet, the script)."""
    return (files("phrasecheck.reports") / "templates" / name).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ document


def _fmt(x: float) -> str:
    if x != x:  # NaN
        return "–"
    return f"{x:.1f}".rstrip("0").rstrip(".") if not float(x).is_integer() else str(int(x))


def _write_document(out: IO[str], records: Records, ctx: _Context, agg: _Aggregates,
                    rows_file: IO[str], errors: list[tuple[str, str, str]], title: str) -> None:
    from markupsafe import Markup

    # the text of the <script> element, which the CSP allows by its hash
    script = "\n" + _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    page = _environment().get_template("report.html").generate(
        title=title, csp=csp, css=Markup("\n" + _asset("report.css")), script=Markup(script),
        now=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), policy=ctx.policy,
        redact=ctx.redact, n=agg.n, has_agent=agg.has_agent, has_domain=agg.has_domain,
        cards=_cards(ctx, agg, len(errors)), grades=_grade_chips(ctx, agg),
        histogram=Markup(_histogram(ctx, agg)), rule_bars=Markup(_rule_bars(ctx, agg)),
        category_bars=Markup(_category_bars(ctx, agg)),
        rows=_table_rows(rows_file, ctx.sections == "all"), agents=_agent_rows(agg),
        errors=[(redact_text(path), line, redact_text(reason)) for path, line, reason in errors],
        sections=_sections(records, ctx, agg), bases=_bases(ctx))
    for chunk in page:
        out.write(chunk)


def _cards(ctx: _Context, agg: _Aggregates, n_errors: int) -> list[tuple[str, str, str, str]]:
    """The overview's figures: (label, English label, value, CSS class)."""
    mean = agg.total / agg.n if agg.n else math.nan
    median = statistics.median(agg.scores) if agg.n else math.nan
    return [
        ("会话数", "conversations", str(agg.n), ""),
        ("读取错误", "errors", str(n_errors), "bad" if n_errors else ""),
        ("平均分", "mean score", _fmt(round(mean, 1)), ""),
        ("中位数", "median score", _fmt(round(median, 1)), ""),
        ("一票否决", "vetoed", str(agg.vetoed), "bad" if agg.vetoed else ""),
        (f"未达标 (<{_fmt(ctx.threshold)} 或否决)", "failed", str(agg.failed),
         "bad" if agg.failed else ""),
    ]


def _grade_chips(ctx: _Context, agg: _Aggregates) -> list[tuple[str, int, str]]:
    """(grade, conversations, percentage) in the policy's grade order, then the others."""
    order = [g.name for g in ctx.policy.grades] if ctx.policy is not None else []
    names = [g for g in order if g in agg.grades] + sorted(g for g in agg.grades
                                                           if g not in order)
    return [(g, agg.grades[g], f"{100 * agg.grades[g] / agg.n if agg.n else 0:.0f}")
            for g in names]


@dataclass(frozen=True, slots=True)
class _Row:
    """A row of the conversation table."""

    i: int
    id: str
    link: bool  # to the conversation's section, when the report has one
    score: float
    grade: str
    vetoed: bool
    failed: bool
    failed_rules: str
    violations: int
    agent: str | None
    domain: str | None


def _table_rows(rows_file: IO[str], all_sections: bool) -> Iterator[_Row]:
    """The conversation table's rows, read back one at a time from the first pass."""
    for i, line in enumerate(rows_file):
        cid, score, grade, vetoed, failed, failed_rules, n_viol, agent, domain = json.loads(line)
        yield _Row(i, cid, all_sections or failed, score, grade, vetoed, failed,
                   ", ".join(failed_rules), n_viol, agent, domain)


@dataclass(frozen=True, slots=True)
class _AgentRow:
    """A row of the agents table; ``*_v`` are the values the table sorts by."""

    agent: str
    n: int
    mean_v: str
    mean: str
    low_v: float
    low: str
    failed: int
    violations: int


def _agent_rows(agg: _Aggregates) -> list[_AgentRow]:
    rows = []
    for agent in sorted(agg.agents):
        n, total, failed, low, viol = agg.agents[agent]
        mean = total / n
        rows.append(_AgentRow(agent, int(n), f"{mean:.3f}", _fmt(round(mean, 1)), low,
                              _fmt(low), int(failed), int(viol)))
    return rows


def _bases(ctx: _Context) -> list[tuple[str, str, str]]:
    """(clause id, title, text) of every clause a finding or rule rests on."""
    out = []
    for basis_id in ctx.bases_used:
        b = ctx.lexicon.bases.get(basis_id) if ctx.lexicon is not None else None
        out.append((basis_id, b.title if b else "", ctx.basis_text(basis_id)))
    return out


def _sections(records: Records, ctx: _Context, agg: _Aggregates
              ) -> Iterator[_ConversationView]:
    """The second pass: each conversation to show, as the template's ``conversation`` wants
    it; checks that ``records()`` yields the conversations of the first pass again."""
    n = 0
    for conv, sc in records():
        if n >= agg.n or zlib.crc32(conv.id.encode("utf-8", "surrogatepass")) != agg.ids[n]:
            raise ValueError("records() yielded different conversations on its second call "
                             f"(at position {n + 1}); it must return a fresh iterator over the "
                             "same conversations in the same order each time")
        if ctx.sections == "all" or ctx.failed(sc):
            yield _conversation(n, conv, sc, ctx)
        n += 1
    if n != agg.n:
        raise ValueError(f"records() yielded {agg.n} conversations the first time and {n} the "
                         "second; it must return the same conversations each time")


# ------------------------------------------------------------------------------ charts
# The SVG charts are drawn here, not in a template: they are geometry more than markup.
# Every text in them goes through esc().


def _histogram(ctx: _Context, agg: _Aggregates) -> str:
    top = max([ctx.policy.start if ctx.policy is not None else 100.0, *agg.scores])
    top = max(10.0, math.ceil(top / 10) * 10)
    low = min([0.0, *agg.scores])
    low = math.floor(low / 10) * 10
    nbins = int((top - low) // 10)
    counts = [0] * nbins
    for s in agg.scores:
        counts[min(nbins - 1, max(0, int((s - low) // 10)))] += 1
    width, height, left, bottom, topm = 560, 230, 36, 34, 18
    plot_w, plot_h = width - left - 8, height - bottom - topm
    step = _nice_step(max(counts, default=0))
    nticks = max(1, math.ceil(max(counts, default=0) / step))
    peak = step * nticks
    bw = plot_w / nbins
    parts = [f"<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" "
             f"aria-label=\"分数分布 (score distribution)\">"]
    for t in range(nticks + 1):  # horizontal grid lines
        y = topm + plot_h - plot_h * t / nticks
        parts.append(f"<line class=\"grid\" x1=\"{left}\" x2=\"{width - 8}\" y1=\"{y:.1f}\" "
                     f"y2=\"{y:.1f}\"/><text class=\"axis\" x=\"{left - 4}\" y=\"{y + 4:.1f}\" "
                     f"text-anchor=\"end\">{step * t}</text>")
    for i, n in enumerate(counts):
        lo = low + 10 * i
        h = plot_h * n / peak
        x = left + i * bw
        cls = "pass" if lo >= ctx.threshold else "fail"
        label = f"{_fmt(lo)}–{_fmt(lo + 10)}"
        parts.append(f"<rect class=\"{cls}\" x=\"{x + 2:.1f}\" y=\"{topm + plot_h - h:.1f}\" "
                     f"width=\"{bw - 4:.1f}\" height=\"{h:.1f}\"><title>{esc(label)}："
                     f"{n}</title></rect>")
        if n:
            parts.append(f"<text class=\"val\" x=\"{x + bw / 2:.1f}\" "
                         f"y=\"{topm + plot_h - h - 4:.1f}\" text-anchor=\"middle\">{n}</text>")
        parts.append(f"<text class=\"axis\" x=\"{x + bw / 2:.1f}\" y=\"{height - bottom + 16}\" "
                     f"text-anchor=\"middle\">{esc(label)}</text>")
    parts.append(f"<text class=\"axis\" x=\"{left + plot_w / 2:.1f}\" y=\"{height - 4}\" "
                 f"text-anchor=\"middle\">分数 (score) · 红色 = 低于 {_fmt(ctx.threshold)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(peak: int) -> int:
    """A round tick step (1, 2, 5, 10, 20, 50, …) giving at most 5 intervals up to ``peak``."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if math.ceil(peak / (base * m)) <= 5:
                return base * m
        base *= 10


def _bars(items: Sequence[tuple[str, int, str]], cls: str) -> str:
    if not items:
        return "<p class=\"empty\">无 (none)</p>"
    label_w, width, row_h, pad = 190, 560, 22, 6
    height = pad * 2 + row_h * len(items)
    peak = max(n for _, n, _ in items) or 1
    plot_w = width - label_w - 50
    parts = [f"<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\">"]
    for i, (label, n, tip) in enumerate(items):
        y = pad + i * row_h
        short = label if len(label) <= 14 else label[:13] + "…"
        bw = max(1.0, plot_w * n / peak)
        parts.append(f"<text class=\"axis\" x=\"{label_w - 6}\" y=\"{y + 15}\" "
                     f"text-anchor=\"end\">{esc(short)}<title>{esc(tip)}</title></text>"
                     f"<rect class=\"{cls}\" x=\"{label_w}\" y=\"{y + 3}\" width=\"{bw:.1f}\" "
                     f"height=\"{row_h - 6}\"><title>{esc(tip)}：{n}</title></rect>"
                     f"<text class=\"val\" x=\"{label_w + bw + 4:.1f}\" y=\"{y + 15}\">{n}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _rule_bars(ctx: _Context, agg: _Aggregates) -> str:
    rules = [(f"{agg.rule_titles.get(r) or ctx.rule_titles.get(r) or r}", r, n)
             for r, n in agg.rule_failures.most_common(_MAX_CHART_BARS)]
    return _bars([(label, n, f"{rid}: {label}") for label, rid, n in rules], "bar-rule")


def _category_bars(ctx: _Context, agg: _Aggregates) -> str:
    cats = [(ctx.category_title(c), n, c)
            for c, n in agg.categories.most_common(_MAX_CHART_BARS)]
    return _bars(cats, "bar-cat")


# ------------------------------------------------------------------------------ sections


def _fmt_time(t: float | None) -> str:
    if t is None:
        return ""
    m, s = divmod(max(0.0, float(t)), 60)
    return f"{int(m):02d}:{s:04.1f}"


def _finding_rules(f: Finding, ctx: _Context, by_evidence: Mapping[tuple[Any, ...], list[str]]
                   ) -> list[str]:
    rules = list(by_evidence.get((f.turn, f.start, f.end, f.code), []))
    extra = (ctx.classifier_rules.get(f.category, []) if f.source == "classifier"
             else ctx.rules_by_category.get(f.category, []))
    for r in extra:
        if r not in rules:
            rules.append(r)
    return rules


def _kind_of(f: Finding) -> str:
    return "classifier" if f.source == "classifier" else f.kind


@dataclass(frozen=True, slots=True)
class _Note:
    """A finding's side note; ``shown`` is its text as the turn shows it (redacted)."""

    cls: str
    code: str
    category: str
    kind: str
    p: str | None  # the tone model's probability
    shown: str
    phrase: str | None  # the lexicon phrase, when it differs from the text
    rules: list[tuple[str, str | None]]  # (rule id, title to show)
    basis_text: str | None  # the clause in full (violations)
    basis_link: tuple[str, str] | None  # (clause id, title): a link (required phrases)
    suggestion: str | None
    explanation: str | None


@dataclass(frozen=True, slots=True)
class _EvidenceView:
    note: str
    turn: int | None
    anchor: str
    shown: str  # the evidence's text, unless the note quotes it already
    window: tuple[int, int] | None  # first and last turn searched


@dataclass(frozen=True, slots=True)
class _RuleRow:
    id: str
    title: str
    outcome: str
    outcome_label: str
    veto: bool
    basis_id: str | None  # a failed rule links to its clause
    basis_title: str
    deduction: str
    message: str
    evidence: list[_EvidenceView]


@dataclass(frozen=True, slots=True)
class _TurnView:
    cls: str
    anchor: str
    index: int
    who: str
    pieces: list[tuple[str, str, str]]  # see _mark_pieces
    notes: list[_Note]


@dataclass(frozen=True, slots=True)
class _ConversationView:
    n: int
    id: str
    failed: bool
    score: str
    grade: str
    vetoed: bool
    n_turns: int
    info: str
    turns: list[_TurnView]
    orphans: list[_Note]  # findings whose turn the conversation does not have
    rules: list[_RuleRow]


def _conversation(n: int, conv: Conversation, sc: ConversationScore, ctx: _Context
                  ) -> _ConversationView:
    by_evidence: dict[tuple[Any, ...], list[str]] = {}
    for r in sc.rule_results:
        for e in r.evidence:
            key = (e.turn, e.start, e.end, e.code)
            by_evidence.setdefault(key, []).append(r.rule_id)
    by_turn: dict[int | None, list[Finding]] = {}
    for f in sc.findings:
        by_turn.setdefault(f.turn, []).append(f)
    turn_text: dict[int, str] = {}  # redacted texts by turn index, for evidence
    turns = []
    for t in conv.turns:
        text = ctx.red(t.text)
        turn_text[t.index] = text
        turns.append(_turn(n, t, text, by_turn.get(t.index, []), ctx, by_evidence))
    known_turns = set(turn_text)
    orphans = [_note(f, ctx.red(f.text), ctx, by_evidence)
               for k, fs in by_turn.items() if k not in known_turns for f in fs]
    meta = [(k, _meta(conv, sc, k)) for k in ("agent_id", "domain", "channel", "source")]
    return _ConversationView(
        n=n, id=ctx.red(conv.id), failed=ctx.failed(sc), score=_fmt(sc.score), grade=sc.grade,
        vetoed=sc.vetoed, n_turns=len(conv.turns),
        info=" · ".join(f"{k}: {ctx.red(v)}" for k, v in meta if v is not None),
        turns=turns, orphans=orphans,
        rules=[_rule_row(r, n, ctx, turn_text) for r in sc.rule_results])


def _turn(n: int, t: Turn, text: str, findings: list[Finding], ctx: _Context,
          by_evidence: Mapping[tuple[Any, ...], list[str]]) -> _TurnView:
    tone = [f for f in findings if f.source == "classifier"]
    role = t.role if t.role in ROLE_LABELS else "unknown"
    who = [ROLE_LABELS[role]]
    if t.speaker and t.speaker != who[0]:
        who.append(ctx.red(t.speaker))
    if t.start is not None:
        who.append(_fmt_time(t.start) + (f"–{_fmt_time(t.end)}" if t.end is not None else ""))
    spans = []
    notes = []
    for f in findings:
        # the finding's text as the turn shows it (redacted), where its offsets still hold
        ok = 0 <= f.start < f.end <= len(text) and t.text[f.start:f.end] == f.text
        if ok and f.source != "classifier":
            spans.append((f.start, f.end, _MARK_CLASS.get(f.kind, "cue"), _tip(f, ctx)))
        notes.append(_note(f, text[f.start:f.end] if ok else ctx.red(f.text), ctx, by_evidence))
    return _TurnView(cls=f"t {role}" + (" tone" if tone else ""), anchor=f"c{n}t{t.index}",
                     index=t.index, who=" · ".join(who), pieces=_mark_pieces(text, spans),
                     notes=notes)


def _tip(f: Finding, ctx: _Context) -> str:
    tip = f"{f.code} · {ctx.category_title(f.category)} · {KIND_LABELS.get(_kind_of(f), f.kind)}"
    if f.suggestion:
        tip += f" · 建议：{f.suggestion}"
    return tip


@dataclass
class _Span:
    start: int
    end: int
    cls: str
    tips: list[str]
    children: list[_Span] = field(default_factory=list)

    def absorb(self, other: _Span) -> None:
        self.end = max(self.end, other.end)
        self.tips.extend(other.tips)
        self.cls = max(self.cls, other.cls, key=lambda c: _MARK_PRIORITY.get(c, 0))


def _highlight(text: str, spans: list[tuple[int, int, str, str]]) -> str:
    """``text`` escaped, with a ``<mark>`` around each span (the ``highlight`` macro of
    ``conversation.html`` drawing :func:`_mark_pieces`)."""
    macro = _environment().get_template("conversation.html").module.highlight  # type: ignore[attr-defined]
    return str(macro(_mark_pieces(text, spans)))


def _mark_pieces(text: str, spans: list[tuple[int, int, str, str]]) -> list[tuple[str, str, str]]:
    """``text`` cut into ``("text", s, "")``, ``("open", class, title)`` and
    ``("close", "", "")`` pieces, for a ``<mark>`` around each span.

    A span inside another becomes a nested mark, so each finding's exact text is marked;
    spans that cross (``[0, 4)`` and ``[2, 9)``) become one mark over their union, titled
    with both findings.
    """
    root = _Span(0, len(text), "", [])
    stack = [root]
    for a, b, cls, tip in sorted(spans, key=lambda sp: (sp[0], -sp[1])):
        while len(stack) > 1 and stack[-1].end <= a:
            stack.pop()
        top = stack[-1]
        if top is not root and (a, b) == (top.start, top.end):
            top.absorb(_Span(a, b, cls, [tip]))
        elif top is root or b <= top.end:
            node = _Span(a, b, cls, [tip])
            top.children.append(node)
            stack.append(node)
        else:  # crosses the open span: widen it, then every ancestor it now sticks out of
            top.absorb(_Span(a, b, cls, [tip]))
            while len(stack) > 2 and stack[-2].end < stack[-1].end:
                child = stack.pop()
                parent = stack[-1]
                parent.children.pop()  # child was the parent's last child
                parent.children.extend(child.children)
                parent.absorb(child)
    out: list[tuple[str, str, str]] = []
    # iterative walk (no recursion limit on deeply nested spans): (node, next child index)
    walk: list[tuple[_Span, int, int]] = [(root, 0, 0)]
    while walk:
        node, i, pos = walk.pop()
        if i < len(node.children):
            child = node.children[i]
            out.append(("text", text[pos:child.start], ""))
            walk.append((node, i + 1, child.end))
            out.append(("open", child.cls, " | ".join(dict.fromkeys(child.tips))))
            walk.append((child, 0, child.start))
        else:
            out.append(("text", text[pos:node.end], ""))
            if node is not root:
                out.append(("close", "", ""))
    return out


def _note(f: Finding, shown: str, ctx: _Context,
          by_evidence: Mapping[tuple[Any, ...], list[str]]) -> _Note:
    kind = _kind_of(f)
    classifier = kind == "classifier"
    violation = kind != "required"
    return _Note(
        cls={"required": "req", "banned": "ban", "classifier": "tone"}.get(kind, "cue"),
        code=f.code, category=ctx.category_title(f.category),
        kind=KIND_LABELS.get(kind, kind),
        p=f"{f.score:.2f}" if classifier else None, shown=shown,
        phrase=f.phrase if f.phrase and f.phrase != f.text else None,
        # rule titles are shown for violations
        rules=[(r, ctx.rule_titles[r] if violation and r in ctx.rule_titles else None)
               for r in _finding_rules(f, ctx, by_evidence)],
        # the clause in full for violations; a link (text on hover) for required phrases
        basis_text=ctx.basis_text(f.basis) if f.basis and violation else None,
        basis_link=(f.basis, ctx.basis_title(f.basis)) if f.basis and not violation else None,
        suggestion=f.suggestion or None,
        explanation=ctx.red(f.explanation) if classifier and f.explanation else None)


def _evidence(e: Evidence, n: int, ctx: _Context, turn_text: Mapping[int, str]
              ) -> _EvidenceView:
    shown = ""
    if e.turn is not None:
        text = turn_text.get(e.turn)
        if (e.text and text is not None and e.start is not None and e.end is not None
                and 0 <= e.start < e.end <= len(text)):
            shown = text[e.start:e.end]
        else:
            shown = ctx.red(e.text) if e.text else ""
        if shown and e.note.find(e.text or "\0") >= 0:  # the note already quotes it
            shown = ""
        if len(shown) > 80:
            shown = shown[:79] + "…"
    return _EvidenceView(note=ctx.red(e.note), turn=e.turn, anchor=f"c{n}t{e.turn}",
                         shown=shown,
                         window=None if e.window is None else (e.window[0], e.window[1] - 1))


def _rule_row(r: RuleResult, n: int, ctx: _Context, turn_text: Mapping[int, str]
              ) -> _RuleRow:
    outcome = r.outcome
    basis_id = r.basis or ctx.rule_bases.get(r.rule_id)
    return _RuleRow(
        id=r.rule_id, title=r.title or ctx.rule_titles.get(r.rule_id, ""), outcome=outcome,
        outcome_label=OUTCOME_SHORT[outcome], veto=r.veto,
        # every clause is listed once in #bases; failed rules link to theirs
        basis_id=basis_id if basis_id and outcome == "fail" else None,
        basis_title=ctx.basis_title(basis_id),
        deduction=_fmt(r.deduction) if r.deduction else "", message=ctx.red(r.message),
        evidence=[_evidence(e, n, ctx, turn_text) for e in r.evidence])
