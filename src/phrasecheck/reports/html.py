"""The HTML report: one self-contained file a QA lead opens in any browser, offline.

Inline CSS, a little vanilla JavaScript (table sort and filter, opening a conversation from its
link, the review marks) and hand-drawn SVG charts; no network access, no external resource of
any kind, and a Content-Security-Policy that lets only the report's own script run (by its
hash), so even a conversation that smuggled markup past the escaping could not execute anything.

The page is Jinja2 templates (``templates/report.html``, ``templates/conversation.html``)
with autoescaping on, so every value is escaped unless it is markup built here on purpose:
the SVG charts, the style sheet and the script (``templates/report.css``, ``report.js``).
This module works out what to show (redaction, titles, which findings a rule rests on, the
nesting of highlights, the order); the templates say how it looks. Everything a person reads
is in Chinese unless ``lang="en"`` (:mod:`phrasecheck.i18n`).

Conversations are listed worst first (lowest score first; input order among equals), in the
table and in the details. The conversations are streamed twice from ``records()``: once for
the overview, charts and table rows, once for the per-conversation sections, each rendered
into a temporary file as it comes; the page then takes rows and sections from those files in
worst-first order. Memory stays flat for any number of conversations.

Review: each finding and each failed rule carries its key (turn, span, code; rule id), and
the script adds 确认 / 误报 / 待定 buttons and a comment box to it, keeps the marks in the
browser (``localStorage``) and exports them as CSV or JSON for ``phrasecheck review apply``
(:mod:`phrasecheck.review`). Verdicts already merged into the run are shown as the starting
state.
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
import unicodedata
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import IO, TYPE_CHECKING, Any, Literal

from .. import i18n
from ..lexicon import Lexicon
from ..policy import Policy
from ..types import Conversation, ConversationScore, Evidence, Finding, ReadError, RuleResult, Turn
from ._atomic import atomic_write
from .redact import redactor

if TYPE_CHECKING:
    import jinja2

    from ..review import Verdict

__all__ = ["DEFAULT_TITLE", "Records", "write_html_report"]

DEFAULT_TITLE = "phrasecheck 服务用语质检报告"

Records = Callable[[], Iterable[tuple[Conversation, ConversationScore]]]

_MARK_CLASS = {"required": "req", "banned": "ban", "cue": "cue"}
_MARK_PRIORITY = {"ban": 3, "cue": 2, "req": 1}
_MAX_CHART_BARS = 15
#: a turn whose role was inferred with less confidence than this is marked in the details
LOW_ROLE_CONFIDENCE = 0.6


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
    redact: bool | str | Sequence[str] | Callable[[str], str] = True,
    title: str | None = None,
    fail_under: float | None = None,
    sections: Literal["all", "failed"] = "all",
    lang: str = i18n.DEFAULT_LANG,
    verdicts: Iterable[Verdict] = (),
    original_scores: Mapping[str, tuple[float, str]] | None = None,
) -> None:
    """Write the HTML report to ``path`` (atomically).

    ``records`` is a zero-argument callable returning a fresh iterable of
    ``(Conversation, ConversationScore)`` pairs; it is called twice and must yield the same
    conversations in the same order both times (a ``ValueError`` says so otherwise).
    ``errors`` are the files or lines that could not be read. ``policy`` and ``lexicon``, when
    given, supply rule titles, grade order, category titles and the text of basis clauses.
    ``redact`` masks personal data in every text shown (same length, so highlights still
    line up): ``True`` for numbers and e-mail addresses, or the kinds to mask
    (``"pii,names,addresses"``, see :mod:`phrasecheck.reports.redact`), or any function of a
    text that keeps its length. A conversation counts as failed when vetoed or scoring below
    ``fail_under`` (default: the policy's lowest passing grade, else 60): the same pass line
    as the Excel report's. ``sections="failed"`` writes the per-conversation sections of
    failed conversations only (for very large batches; the table still lists every
    conversation). ``lang`` is ``"zh"`` (default) or ``"en"``. ``verdicts`` are review
    verdicts already merged (shown as each item's starting state) and ``original_scores``
    the scores before review (``id -> (score, grade)``), shown next to reviewed ones.
    """
    if not callable(records):
        raise TypeError("records must be a zero-argument callable returning a fresh iterator "
                        "of (Conversation, ConversationScore) pairs (it is read twice), "
                        f"got {type(records).__name__}")
    if sections not in ("all", "failed"):
        raise ValueError(f"sections must be 'all' or 'failed', got {sections!r}")
    i18n.check_lang(lang)
    ctx = _Context.make(policy, lexicon, redact, fail_under, lang)
    ctx.sections = sections
    ctx.original = dict(original_scores or {})
    error_list = [_error_tuple(e) for e in errors]
    seeded = [v for v in verdicts]
    with tempfile.TemporaryFile("w+b") as rows_file, \
            tempfile.TemporaryFile("w+b") as sections_file:
        agg = _first_pass(records(), ctx, rows_file)
        index = _render_sections(records, ctx, agg, sections_file)
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as out:
            _write_document(out, ctx, agg, rows_file, sections_file, index, error_list,
                            title or _default_title(lang), seeded)


def _default_title(lang: str) -> str:
    return DEFAULT_TITLE if lang == "zh" else "phrasecheck courtesy-compliance QA report"


# ------------------------------------------------------------------------------ context


@dataclass
class _Context:
    policy: Policy | None
    lexicon: Lexicon | None
    redactor: Callable[[str], str] | None
    threshold: float
    lang: str = i18n.DEFAULT_LANG
    rule_titles: dict[str, str] = field(default_factory=dict)
    rule_bases: dict[str, str | None] = field(default_factory=dict)
    rules_by_category: dict[str, list[str]] = field(default_factory=dict)
    classifier_rules: dict[str, list[str]] = field(default_factory=dict)
    bases_used: dict[str, None] = field(default_factory=dict)  # ordered set
    sections: str = "all"
    original: dict[str, tuple[float, str]] = field(default_factory=dict)

    @classmethod
    def make(cls, policy: Policy | None, lexicon: Lexicon | None,
             redact: bool | str | Sequence[str] | Callable[[str], str],
             fail_under: float | None, lang: str = i18n.DEFAULT_LANG) -> _Context:
        ctx = cls(policy, lexicon, _as_redactor(redact), pass_line(policy, fail_under), lang)
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

    @property
    def L(self) -> i18n.Labels:
        return i18n.labels(self.lang)

    @property
    def redact(self) -> bool:
        return self.redactor is not None

    def red(self, text: object) -> str:
        s = "" if text is None else str(text)
        return self.redactor(s) if self.redactor is not None else s

    def category_title(self, code: str) -> str:
        if self.lexicon is not None:
            cat = self.lexicon.categories.get(code)
            if cat is not None and cat.title:
                return cat.title if self.lang == "zh" else f"{code} ({cat.title})"
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

    def rule_title(self, rule_id: str, given: str = "") -> str:
        return given or self.rule_titles.get(rule_id, "") or rule_id

    def failed(self, s: ConversationScore) -> bool:
        return bool(s.vetoed) or s.score < self.threshold


def pass_line(policy: Policy | None, fail_under: float | None) -> float:
    """The score below which a conversation fails: ``fail_under`` when given, else the
    policy's lowest passing grade (the minimum of its second-lowest grade), else 60. The
    HTML and Excel reports both use it, so the same conversations are red in both."""
    if fail_under is not None:
        return float(fail_under)
    if policy is not None and len(policy.grades) >= 2:
        return float(policy.grades[-2].min)
    return 60.0


def _as_redactor(redact: bool | str | Sequence[str] | Callable[[str], str]
                 ) -> Callable[[str], str] | None:
    if callable(redact) and not isinstance(redact, (str, bool)):
        return redact
    return redactor(redact)


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
    offsets: array[int] = field(default_factory=lambda: array("Q"))  # of the table rows
    grades: Counter[str] = field(default_factory=Counter)
    vetoed: int = 0
    failed: int = 0
    rule_failures: Counter[str] = field(default_factory=Counter)
    rule_titles: dict[str, str] = field(default_factory=dict)
    categories: Counter[str] = field(default_factory=Counter)
    agents: dict[str, list[float]] = field(default_factory=dict)  # n, sum, failed, min, viol.
    has_agent: bool = False
    has_domain: bool = False

    def worst_first(self) -> list[int]:
        """Positions of the conversations, lowest score first (input order among equals)."""
        scores = self.scores
        return sorted(range(self.n), key=lambda i: (scores[i], i))


def _meta(c: Conversation, s: ConversationScore, key: str) -> str | None:
    v = c.metadata.get(key)
    if v is None:
        v = s.metadata.get(key)
    return None if v is None or v == "" else str(v)


def violations(sc: ConversationScore) -> int:
    """What failed in a conversation, counted once each: every banned-phrase and tone-model
    finding, and every failed rule that none of those findings already stands for (a missing
    greeting, an unanswered complaint, a hold without 请稍等)."""
    bad = {(f.turn, f.start, f.end, f.code) for f in sc.findings if f.kind != "required"}
    n = len(bad)
    for r in sc.rule_results:
        if r.passed is False and not any((e.turn, e.start, e.end, e.code) in bad
                                         for e in r.evidence):
            n += 1
    return n


def _first_pass(items: Iterable[tuple[Conversation, ConversationScore]], ctx: _Context,
                rows: IO[bytes]) -> _Aggregates:
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
        n_viol = violations(sc)
        if agent is not None:
            agg.has_agent = True
            a = agg.agents.setdefault(agent, [0, 0.0, 0, math.inf, 0])
            a[0] += 1
            a[1] += sc.score
            a[2] += failed
            a[3] = min(a[3], sc.score)
            a[4] += len(failed_rules)
        agg.has_domain |= domain is not None
        before = ctx.original.get(sc.id)
        agg.offsets.append(rows.tell())
        rows.write(json.dumps([ctx.red(conv.id), sc.score, sc.grade, bool(sc.vetoed), failed,
                               failed_rules, n_viol, agent, domain,
                               None if before is None else before[0]],
                              ensure_ascii=False).encode("utf-8", "surrogatepass"))
        rows.write(b"\n")
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


def _report_id(ctx: _Context, agg: _Aggregates) -> str:
    """Names this report's conversations (and policy) for the browser's saved review marks:
    the same run, written again after ``review apply``, keeps its marks."""
    h = hashlib.sha256()
    h.update((ctx.policy.name if ctx.policy is not None else "").encode("utf-8"))
    h.update(agg.ids.tobytes())
    return h.hexdigest()[:16]


def _verdict_seed(verdicts: Sequence[Verdict], ctx: _Context) -> str:
    """The verdicts already merged, as JSON for the page's data block (``<`` escaped, so
    no text can close the block)."""
    rows = [{"c": ctx.red(v.conversation_id), "g": v.target, "t": v.turn, "s": v.start,
             "e": v.end, "k": v.code or "", "r": v.rule or "", "v": v.verdict,
             "w": v.reviewer, "m": v.comment, "at": v.time} for v in verdicts]
    return json.dumps(rows, ensure_ascii=False).replace("<", "\\u003c")


def _js_labels(ctx: _Context) -> str:
    L = ctx.L
    data = {"verdicts": {k: i18n.value_label("verdict", k, ctx.lang)
                         for k in ("confirmed", "false_positive", "pending")},
            "comment": L.comment_placeholder, "counts": L.review_counts,
            "count": L.count_js, "clear": L.clear_confirm}
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


def _write_document(out: IO[str], ctx: _Context, agg: _Aggregates, rows_file: IO[bytes],
                    sections_file: IO[bytes], index: list[tuple[int, int, int]],
                    errors: list[tuple[str, str, str]], title: str,
                    verdicts: Sequence[Verdict]) -> None:
    from markupsafe import Markup

    # the text of the <script> element, which the CSP allows by its hash
    script = "\n" + _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    order = agg.worst_first()
    page = _environment().get_template("report.html").generate(
        L=ctx.L, lang=ctx.lang, title=title, csp=csp,
        css=Markup("\n" + _asset("report.css")), script=Markup(script),
        now=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), policy=ctx.policy,
        redact=ctx.redact, n=agg.n, has_agent=agg.has_agent, has_domain=agg.has_domain,
        cards=_cards(ctx, agg, len(errors)), grades=_grade_chips(ctx, agg),
        histogram=Markup(_histogram(ctx, agg)), rule_bars=Markup(_rule_bars(ctx, agg)),
        category_bars=Markup(_category_bars(ctx, agg)),
        rows=_table_rows(rows_file, agg, order, ctx), agents=_agent_rows(agg),
        errors=[(ctx.red(path), line, ctx.red(reason)) for path, line, reason in errors],
        sections=_stored_sections(sections_file, index, agg, order),
        bases=_bases(ctx), report_id=_report_id(ctx, agg),
        seed=Markup(_verdict_seed(verdicts, ctx)), js_labels=Markup(_js_labels(ctx)),
        reviewed=len(verdicts), threshold=_fmt(ctx.threshold),
        verdict_options=[(v, i18n.value_label("verdict", v, ctx.lang))
                         for v in ("confirmed", "false_positive", "pending")])
    for chunk in page:
        out.write(chunk)


def _cards(ctx: _Context, agg: _Aggregates, n_errors: int) -> list[tuple[str, str, str, str]]:
    """The overview's figures: (label, hint, value, CSS class)."""
    L = ctx.L
    mean = agg.total / agg.n if agg.n else math.nan
    median = statistics.median(agg.scores) if agg.n else math.nan
    return [
        (L.card_conversations, "", str(agg.n), ""),
        (L.card_errors, "", str(n_errors), "bad" if n_errors else ""),
        (L.card_mean, "", _fmt(round(mean, 1)), ""),
        (L.card_median, "", _fmt(round(median, 1)), ""),
        (L.card_vetoed, "", str(agg.vetoed), "bad" if agg.vetoed else ""),
        (L.card_failed, L.card_failed_hint.format(line=_fmt(ctx.threshold)), str(agg.failed),
         "bad" if agg.failed else ""),
    ]


def _grade_chips(ctx: _Context, agg: _Aggregates) -> list[tuple[str, int, str]]:
    """(grade, conversations, percentage) in the policy's grade order, then the others."""
    order = [g.name for g in ctx.policy.grades] if ctx.policy is not None else []
    names = [g for g in order if g in agg.grades] + sorted(g for g in agg.grades
                                                           if g not in order)
    return [(i18n.grade_label(g, ctx.lang), agg.grades[g],
             f"{100 * agg.grades[g] / agg.n if agg.n else 0:.0f}") for g in names]


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
    before: float | None  # the score before review, when a review changed it


def _table_rows(rows_file: IO[bytes], agg: _Aggregates, order: Sequence[int], ctx: _Context
                ) -> Iterator[_Row]:
    """The conversation table's rows, worst first, read back one at a time."""
    all_sections = ctx.sections == "all"
    for i in order:
        rows_file.seek(agg.offsets[i])
        (cid, score, grade, vetoed, failed, failed_rules, n_viol, agent, domain,
         before) = json.loads(rows_file.readline())
        titles = "、".join(ctx.rule_title(r, agg.rule_titles.get(r, "")) for r in failed_rules)
        yield _Row(i, cid, all_sections or failed, score, i18n.grade_label(grade, ctx.lang),
                   vetoed, failed, titles, n_viol, agent, domain,
                   before if before is not None and before != score else None)


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


def _render_sections(records: Records, ctx: _Context, agg: _Aggregates, out: IO[bytes]
                     ) -> list[tuple[int, int, int]]:
    """The second pass: each conversation to show, rendered into ``out`` as it comes;
    returns (position, offset, length) of each. Checks that ``records()`` yields the
    conversations of the first pass again."""
    macro = _environment().get_template("conversation.html").module.conversation  # type: ignore[attr-defined]
    index: list[tuple[int, int, int]] = []
    n = 0
    for conv, sc in records():
        if n >= agg.n or zlib.crc32(conv.id.encode("utf-8", "surrogatepass")) != agg.ids[n]:
            raise ValueError("records() yielded different conversations on its second call "
                             f"(at position {n + 1}); it must return a fresh iterator over the "
                             "same conversations in the same order each time")
        if ctx.sections == "all" or ctx.failed(sc):
            data = str(macro(_conversation(n, conv, sc, ctx), ctx.L)).encode(
                "utf-8", "surrogatepass")
            index.append((n, out.tell(), len(data)))
            out.write(data)
        n += 1
    if n != agg.n:
        raise ValueError(f"records() yielded {agg.n} conversations the first time and {n} the "
                         "second; it must return the same conversations each time")
    return index


def _stored_sections(store: IO[bytes], index: list[tuple[int, int, int]], agg: _Aggregates,
                     order: Sequence[int]) -> Iterator[Any]:
    """The rendered sections, worst first, read back one at a time."""
    from markupsafe import Markup

    rank = {pos: r for r, pos in enumerate(order)}
    for _, offset, length in sorted(index, key=lambda x: rank[x[0]]):
        store.seek(offset)
        yield Markup(store.read(length).decode("utf-8", "surrogatepass"))


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
             f"aria-label=\"{esc(ctx.L.chart_scores)}\">"]
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
    caption = ctx.L.chart_score_axis.format(line=_fmt(ctx.threshold))
    parts.append(f"<text class=\"axis\" x=\"{left + plot_w / 2:.1f}\" y=\"{height - 4}\" "
                 f"text-anchor=\"middle\">{esc(caption)}</text>")
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


def _display_width(s: str) -> int:
    """Width of ``s`` in half-width cells (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _wrap(label: str, cells: int) -> list[str]:
    """``label`` in lines of at most ``cells`` half-width cells (two lines at most; the
    second ends in … only past that)."""
    lines, line, width = [], "", 0
    for ch in label:
        w = _display_width(ch)
        if width + w > cells and line:
            lines.append(line)
            line, width = "", 0
        line += ch
        width += w
    lines.append(line)
    if len(lines) > 2:
        lines = [lines[0], lines[1][:-1] + "…"]
    return lines


_CELL_PX = 6.2  # one half-width cell at the charts' 11px font, in viewBox units


def _bars(items: Sequence[tuple[str, int, str]], cls: str, empty: str) -> str:
    """A horizontal bar chart. Labels are never cut: the label column is as wide as the
    longest label needs (up to half the chart), and a longer label wraps onto two lines."""
    if not items:
        return f"<p class=\"empty\">{esc(empty)}</p>"
    width, pad = 560, 6
    longest = max(_display_width(label) for label, _, _ in items)
    cells = min(longest, 42)
    label_w = int(cells * _CELL_PX) + 14
    wrapped = [_wrap(label, cells) for label, _, _ in items]
    rows = [22 if len(w) == 1 else 34 for w in wrapped]
    height = pad * 2 + sum(rows)
    peak = max(n for _, n, _ in items) or 1
    plot_w = width - label_w - 50
    parts = [f"<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\">"]
    y = pad
    for (_, n, tip), lines, row_h in zip(items, wrapped, rows, strict=True):
        bw = max(1.0, plot_w * n / peak)
        mid = y + row_h / 2
        if len(lines) == 1:
            text = esc(lines[0])
        else:
            text = "".join(f"<tspan x=\"{label_w - 6}\" dy=\"{dy}\">{esc(part)}</tspan>"
                           for part, dy in zip(lines, ("-0.2em", "1.2em"), strict=True))
        parts.append(f"<text class=\"axis\" x=\"{label_w - 6}\" y=\"{mid + 4:.1f}\" "
                     f"text-anchor=\"end\">{text}<title>{esc(tip)}</title></text>"
                     f"<rect class=\"{cls}\" x=\"{label_w}\" y=\"{mid - 8:.1f}\" "
                     f"width=\"{bw:.1f}\" height=\"16\"><title>{esc(tip)}：{n}</title></rect>"
                     f"<text class=\"val\" x=\"{label_w + bw + 4:.1f}\" y=\"{mid + 4:.1f}\">"
                     f"{n}</text>")
        y += row_h
    parts.append("</svg>")
    return "".join(parts)


def _rule_bars(ctx: _Context, agg: _Aggregates) -> str:
    rules = [(ctx.rule_title(r, agg.rule_titles.get(r, "")), r, n)
             for r, n in agg.rule_failures.most_common(_MAX_CHART_BARS)]
    return _bars([(label, n, f"{rid}: {label}") for label, rid, n in rules], "bar-rule",
                 ctx.L.none)


def _category_bars(ctx: _Context, agg: _Aggregates) -> str:
    cats = [(ctx.category_title(c), n, c)
            for c, n in agg.categories.most_common(_MAX_CHART_BARS)]
    return _bars(cats, "bar-cat", ctx.L.none)


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
    basis: tuple[str, str] | None  # (clause id, title): a link to the clause
    suggestion: str | None
    explanation: str | None
    key: str  # turn:start:end, the review key with the code
    rule_ids: str  # the rules the finding counts against, for the review export


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
    low_conf: str | None  # the role's confidence, when low


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
    failed_rules: list[tuple[str, str]]  # (rule id, title), for the badges in the summary
    inferred: str | None  # how the roles were inferred, when they were (the badge's tip)
    before: str | None  # the score before review, when a review changed it


def _role_info(conv: Conversation, ctx: _Context) -> tuple[str | None, list[float | None]]:
    """The inferred-roles badge's tip (None when the roles were given, not inferred) and
    each turn's role confidence (None where unknown)."""
    meta = conv.metadata
    inf = meta.get("role_inference")
    mono = meta.get("layout") == "mono"
    tip = None
    if isinstance(inf, Mapping) and inf.get("method") not in (None, "override", "aliases"):
        conf = inf.get("confidence")
        tip = ctx.L.inferred_roles_tip.format(
            method=inf.get("method"),
            conf="–" if not isinstance(conf, (int, float)) else f"{conf:.2f}")
    elif mono:
        tip = ctx.L.inferred_roles_tip.format(method="mono", conf="–")
    per_turn: list[float | None] = [None] * len(conv.turns)
    confs = meta.get("role_confidence")
    if isinstance(confs, Sequence) and not isinstance(confs, str):
        for i, c in enumerate(list(confs)[:len(per_turn)]):
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                per_turn[i] = float(c)
    return tip, per_turn


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
    inferred, confidences = _role_info(conv, ctx)
    turn_text: dict[int, str] = {}  # redacted texts by turn index, for evidence
    turns = []
    for pos, t in enumerate(conv.turns):
        text = ctx.red(t.text)
        turn_text[t.index] = text
        turns.append(_turn(n, t, text, by_turn.get(t.index, []), ctx, by_evidence,
                           confidences[pos]))
    known_turns = set(turn_text)
    orphans = [_note(f, ctx.red(f.text), ctx, by_evidence)
               for k, fs in by_turn.items() if k not in known_turns for f in fs]
    meta = [(k, _meta(conv, sc, k)) for k in ("agent_id", "domain", "channel", "source")]
    before = ctx.original.get(sc.id)
    return _ConversationView(
        n=n, id=ctx.red(conv.id), failed=ctx.failed(sc), score=_fmt(sc.score),
        grade=i18n.grade_label(sc.grade, ctx.lang), vetoed=sc.vetoed, n_turns=len(conv.turns),
        info=" · ".join(f"{i18n.column_label(k, ctx.lang)}: {ctx.red(v)}"
                        for k, v in meta if v is not None),
        turns=turns, orphans=orphans,
        rules=[_rule_row(r, n, ctx, turn_text) for r in sc.rule_results],
        failed_rules=[(r.rule_id, ctx.rule_title(r.rule_id, r.title))
                      for r in sc.rule_results if r.passed is False],
        inferred=inferred,
        before=None if before is None or before[0] == sc.score else _fmt(before[0]))


def _turn(n: int, t: Turn, text: str, findings: list[Finding], ctx: _Context,
          by_evidence: Mapping[tuple[Any, ...], list[str]],
          confidence: float | None = None) -> _TurnView:
    tone = [f for f in findings if f.source == "classifier"]
    role = t.role if t.role in ("agent", "customer", "system", "unknown") else "unknown"
    who = [i18n.value_label("role", role, ctx.lang)]
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
    low = confidence is not None and confidence < LOW_ROLE_CONFIDENCE
    cls = f"t {role}" + (" tone" if tone else "") + (" lowconf" if low else "")
    return _TurnView(cls=cls, anchor=f"c{n}t{t.index}", index=t.index, who=" · ".join(who),
                     pieces=_mark_pieces(text, spans), notes=notes,
                     low_conf=ctx.L.low_conf_turn.format(conf=f"{confidence:.2f}")
                     if low and confidence is not None else None)


def _tip(f: Finding, ctx: _Context) -> str:
    return (f"{f.code} · {ctx.category_title(f.category)} · "
            f"{i18n.value_label('kind', _kind_of(f), ctx.lang)}")


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
    rules = _finding_rules(f, ctx, by_evidence)
    return _Note(
        cls={"required": "req", "banned": "ban", "classifier": "tone"}.get(kind, "cue"),
        code=f.code, category=ctx.category_title(f.category),
        kind=i18n.value_label("kind", kind, ctx.lang),
        p=f"{f.score:.2f}" if classifier else None, shown=shown,
        phrase=f.phrase if f.phrase and f.phrase != f.text else None,
        # rule titles are shown for violations
        rules=[(r, ctx.rule_titles[r] if violation and r in ctx.rule_titles else None)
               for r in rules],
        # one link to the clause (its text on hover, in full once in the bases section)
        basis=(f.basis, ctx.basis_title(f.basis)) if f.basis else None,
        suggestion=f.suggestion or None,
        explanation=(ctx.red(i18n.evidence_note(f.explanation, ctx.lang, ctx.category_title))
                     if classifier and f.explanation else None),
        key=f"{'' if f.turn is None else f.turn}:{f.start}:{f.end}", rule_ids=",".join(rules))


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
    note = i18n.evidence_note(e.note, ctx.lang, ctx.category_title)
    return _EvidenceView(note=ctx.red(note), turn=e.turn, anchor=f"c{n}t{e.turn}",
                         shown=shown,
                         window=None if e.window is None else (e.window[0], e.window[1] - 1))


def _rule_row(r: RuleResult, n: int, ctx: _Context, turn_text: Mapping[int, str]
              ) -> _RuleRow:
    outcome = r.outcome
    basis_id = r.basis or ctx.rule_bases.get(r.rule_id)
    return _RuleRow(
        id=r.rule_id, title=r.title or ctx.rule_titles.get(r.rule_id, ""), outcome=outcome,
        outcome_label=i18n.value_label("outcome", outcome, ctx.lang), veto=r.veto,
        # every clause is listed once in #bases; failed rules link to theirs
        basis_id=basis_id if basis_id and outcome == "fail" else None,
        basis_title=ctx.basis_title(basis_id),
        deduction=_fmt(r.deduction) if r.deduction else "",
        message=ctx.red(i18n.rule_message(r.message, ctx.lang, ctx.category_title)),
        evidence=[_evidence(e, n, ctx, turn_text) for e in r.evidence])
