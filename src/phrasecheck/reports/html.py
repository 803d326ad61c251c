"""The HTML report: one self-contained file a QA lead opens in any browser, offline.

Inline CSS, a little vanilla JavaScript (table sort and filter, opening a conversation from its
link) and hand-drawn SVG charts; no network access, no external resource of any kind, and a
Content-Security-Policy that lets only the report's own script run (by its hash), so even a
conversation that smuggled markup past the escaping could not execute anything.

The conversations are streamed twice from ``records()``: once for the overview, charts and
tables, once for the per-conversation sections. Only small per-conversation rows (id, score,
grade, …) are kept between the passes, in a temporary file, so memory stays flat for any
number of conversations.
"""

from __future__ import annotations

import base64
import datetime
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from ..lexicon import Lexicon
from ..policy import Policy
from ..types import Conversation, ConversationScore, Evidence, Finding, ReadError, RuleResult, Turn
from ._atomic import atomic_write
from .redact import redact as redact_text

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

    def basis_link(self, basis_id: str) -> str:
        """A short link to the clause in the bases section (its text shows on hover)."""
        return (f"<a class=\"b\" href=\"#b-{esc(basis_id)}\">"
                f"{esc(self.basis_title(basis_id))}</a>")

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


# ------------------------------------------------------------------------------ document


def _fmt(x: float) -> str:
    if x != x:  # NaN
        return "–"
    return f"{x:.1f}".rstrip("0").rstrip(".") if not float(x).is_integer() else str(int(x))


def _write_document(out: IO[str], records: Records, ctx: _Context, agg: _Aggregates,
                    rows_file: IO[str], errors: list[tuple[str, str, str]], title: str) -> None:
    w = out.write
    script = _SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    w("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n")
    w(f"<meta http-equiv=\"Content-Security-Policy\" content=\"{esc(csp)}\">\n")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
    w("<meta name=\"generator\" content=\"phrasecheck\">\n")
    w(f"<title>{esc(title)}</title>\n<style>{_CSS}</style></head>\n<body>\n")
    w(f"<header class=\"top\"><h1>{esc(title)}</h1><p class=\"sub\">")
    if ctx.policy is not None:
        w(f"策略 (policy)：<b>{esc(ctx.policy.title)}</b> <code>{esc(ctx.policy.name)}</code> · ")
    w(f"生成于 (generated) {esc(now)} · ")
    w("个人信息已脱敏 (PII redacted)" if ctx.redact else
      "<b class=\"warn\">未脱敏 (not redacted)</b>")
    w("</p><nav><a href=\"#overview\">概览</a><a href=\"#charts\">图表</a>"
      "<a href=\"#conversations\">会话列表</a>")
    if agg.has_agent:
        w("<a href=\"#agents\">坐席</a>")
    w("<a href=\"#errors\">读取错误</a><a href=\"#details\">会话详情</a>"
      "<a href=\"#bases\">依据条款</a></nav></header>\n<main>\n")
    _overview(w, ctx, agg, len(errors))
    _charts(w, ctx, agg)
    _conversation_table(w, agg, rows_file, ctx.sections == "all")
    if agg.has_agent:
        _agent_table(w, agg)
    _error_table(w, errors)
    w("<section id=\"details\"><h2>会话详情 (conversations)</h2>\n")
    w("<p class=\"legend\"><mark class=\"req\">规范用语 required</mark> "
      "<mark class=\"ban\">服务忌语 banned</mark> <mark class=\"cue\">线索 cue</mark> "
      "<span class=\"tone-key\">语气模型判定 (tone model)</span></p>\n")
    n = 0
    for conv, sc in records():
        if n >= agg.n or zlib.crc32(conv.id.encode("utf-8", "surrogatepass")) != agg.ids[n]:
            raise ValueError("records() yielded different conversations on its second call "
                             f"(at position {n + 1}); it must return a fresh iterator over the "
                             "same conversations in the same order each time")
        if ctx.sections == "all" or ctx.failed(sc):
            _conversation_section(w, n, conv, sc, ctx)
        n += 1
    if n != agg.n:
        raise ValueError(f"records() yielded {agg.n} conversations the first time and {n} the "
                         "second; it must return the same conversations each time")
    if n == 0:
        w("<p class=\"empty\">没有会话 (no conversations)</p>")
    w("</section>\n")
    _bases_section(w, ctx)
    w("</main>\n")
    w(f"<footer>phrasecheck · {agg.n} 个会话 · {len(errors)} 个读取错误</footer>\n")
    w(f"<script>{script}</script>\n</body></html>\n")


def _overview(w: Callable[[str], Any], ctx: _Context, agg: _Aggregates, n_errors: int) -> None:
    mean = agg.total / agg.n if agg.n else math.nan
    median = statistics.median(agg.scores) if agg.n else math.nan
    cards = [
        ("会话数", "conversations", str(agg.n), ""),
        ("读取错误", "errors", str(n_errors), "bad" if n_errors else ""),
        ("平均分", "mean score", _fmt(round(mean, 1)), ""),
        ("中位数", "median score", _fmt(round(median, 1)), ""),
        ("一票否决", "vetoed", str(agg.vetoed), "bad" if agg.vetoed else ""),
        (f"未达标 (<{_fmt(ctx.threshold)} 或否决)", "failed", str(agg.failed),
         "bad" if agg.failed else ""),
    ]
    w("<section id=\"overview\"><h2>概览 (overview)</h2><div class=\"cards\">")
    for zh, en, value, cls in cards:
        w(f"<div class=\"card {cls}\"><div class=\"v\">{esc(value)}</div>"
          f"<div class=\"k\">{esc(zh)}<br><small>{esc(en)}</small></div></div>")
    w("</div><p class=\"grades\">等级分布 (grades)：")
    order = [g.name for g in ctx.policy.grades] if ctx.policy is not None else []
    names = [g for g in order if g in agg.grades] + sorted(g for g in agg.grades
                                                           if g not in order)
    if not names:
        w("–")
    for g in names:
        pct = 100 * agg.grades[g] / agg.n if agg.n else 0
        w(f"<span class=\"chip\">{esc(g)} <b>{agg.grades[g]}</b> <small>{pct:.0f}%</small></span>")
    w("</p></section>\n")


# ------------------------------------------------------------------------------ charts


def _charts(w: Callable[[str], Any], ctx: _Context, agg: _Aggregates) -> None:
    w("<section id=\"charts\"><h2>图表 (charts)</h2><div class=\"charts\">")
    w("<figure><figcaption>分数分布 (score distribution)</figcaption>")
    w(_histogram(ctx, agg))
    w("</figure><figure><figcaption>各规则未通过会话数 (failures by rule)</figcaption>")
    rules = [(f"{agg.rule_titles.get(r) or ctx.rule_titles.get(r) or r}", r, n)
             for r, n in agg.rule_failures.most_common(_MAX_CHART_BARS)]
    w(_bars([(label, n, f"{rid}: {label}") for label, rid, n in rules], "bar-rule"))
    w("</figure><figure><figcaption>违规发现按类别 (violations by category)</figcaption>")
    cats = [(ctx.category_title(c), n, c)
            for c, n in agg.categories.most_common(_MAX_CHART_BARS)]
    w(_bars(cats, "bar-cat"))
    w("</figure></div></section>\n")


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


# ------------------------------------------------------------------------------ tables


def _conversation_table(w: Callable[[str], Any], agg: _Aggregates, rows_file: IO[str],
                        all_sections: bool) -> None:
    w("<section id=\"conversations\"><h2>会话列表 (conversations)</h2>")
    w("<div class=\"tools\"><input id=\"filter\" type=\"search\" "
      "placeholder=\"筛选 (filter): 编号、等级、规则、坐席…\" aria-label=\"filter\">"
      "<label><input id=\"only-failed\" type=\"checkbox\"> 只看未达标 (failed only)</label>"
      f"<span id=\"count\">共 {agg.n}</span></div>")
    w("<div class=\"scroll\"><table id=\"conv-table\" class=\"sortable\"><thead><tr>"
      "<th data-t=\"s\">会话 (id)</th><th data-t=\"n\">分数 (score)</th>"
      "<th data-t=\"s\">等级 (grade)</th><th data-t=\"n\">否决 (vetoed)</th>"
      "<th data-t=\"s\">未通过规则 (failed rules)</th><th data-t=\"n\">违规数 (violations)</th>")
    if agg.has_agent:
        w("<th data-t=\"s\">坐席 (agent_id)</th>")
    if agg.has_domain:
        w("<th data-t=\"s\">领域 (domain)</th>")
    w("</tr></thead><tbody>\n")
    for i, line in enumerate(rows_file):
        cid, score, grade, vetoed, failed, failed_rules, n_viol, agent, domain = json.loads(line)
        tr = "<tr class=\"f\">" if failed else "<tr>"
        link = f"<a href=\"#c{i}\">{esc(cid)}</a>" if all_sections or failed else esc(cid)
        w(f"{tr}<td>{link}</td>"
          f"<td data-v=\"{score}\">{_fmt(score)}</td><td>{esc(grade)}</td>"
          f"<td data-v=\"{int(vetoed)}\">{'是' if vetoed else ''}</td>"
          f"<td>{esc(', '.join(failed_rules))}</td><td>{n_viol}</td>")
        if agg.has_agent:
            w(f"<td>{esc(agent or '')}</td>")
        if agg.has_domain:
            w(f"<td>{esc(domain or '')}</td>")
        w("</tr>\n")
    w("</tbody></table></div><button id=\"more\" type=\"button\" hidden>显示更多 (show more)"
      "</button></section>\n")


def _agent_table(w: Callable[[str], Any], agg: _Aggregates) -> None:
    w("<section id=\"agents\"><h2>坐席 (agents)</h2><div class=\"scroll\">"
      "<table class=\"sortable\"><thead><tr><th data-t=\"s\">坐席 (agent_id)</th>"
      "<th data-t=\"n\">会话数 (conversations)</th><th data-t=\"n\">平均分 (mean)</th>"
      "<th data-t=\"n\">最低分 (min)</th><th data-t=\"n\">未达标 (failed)</th>"
      "<th data-t=\"n\">规则未通过次数 (rule failures)</th></tr></thead><tbody>\n")
    for agent in sorted(agg.agents):
        n, total, failed, low, viol = agg.agents[agent]
        mean = total / n
        w(f"<tr><td>{esc(agent)}</td><td>{int(n)}</td><td data-v=\"{mean:.3f}\">"
          f"{_fmt(round(mean, 1))}</td><td data-v=\"{low}\">{_fmt(low)}</td>"
          f"<td>{int(failed)}</td><td>{int(viol)}</td></tr>\n")
    w("</tbody></table></div></section>\n")


def _error_table(w: Callable[[str], Any], errors: list[tuple[str, str, str]]) -> None:
    w(f"<section id=\"errors\"><h2>读取错误 (errors) <small>{len(errors)}</small></h2>")
    if not errors:
        w("<p class=\"empty\">无 (none)</p></section>\n")
        return
    w("<div class=\"scroll\"><table id=\"error-table\" class=\"sortable\"><thead><tr>"
      "<th data-t=\"s\">文件 (path)</th><th data-t=\"n\">行 (line)</th>"
      "<th data-t=\"s\">原因 (reason)</th></tr></thead><tbody>\n")
    for path, line, reason in errors:
        w(f"<tr><td>{esc(redact_text(path))}</td><td>{esc(line)}</td>"
          f"<td>{esc(redact_text(reason))}</td></tr>\n")
    w("</tbody></table></div></section>\n")


def _bases_section(w: Callable[[str], Any], ctx: _Context) -> None:
    if not ctx.bases_used:
        return
    w("<section id=\"bases\"><h2>依据条款 (basis clauses)</h2><dl class=\"bases\">")
    for basis_id in ctx.bases_used:
        b = ctx.lexicon.bases.get(basis_id) if ctx.lexicon is not None else None
        w(f"<dt><code>{esc(basis_id)}</code> {esc(b.title if b else '')}</dt>"
          f"<dd id=\"b-{esc(basis_id)}\">{esc(ctx.basis_text(basis_id))}</dd>")
    w("</dl></section>\n")


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


def _conversation_section(w: Callable[[str], Any], n: int, conv: Conversation,
                          sc: ConversationScore, ctx: _Context) -> None:
    failed = ctx.failed(sc)
    by_evidence: dict[tuple[Any, ...], list[str]] = {}
    for r in sc.rule_results:
        for e in r.evidence:
            key = (e.turn, e.start, e.end, e.code)
            by_evidence.setdefault(key, []).append(r.rule_id)
    by_turn: dict[int | None, list[Finding]] = {}
    for f in sc.findings:
        by_turn.setdefault(f.turn, []).append(f)
    turn_text: dict[int, str] = {}  # redacted texts by turn index, for evidence
    w(f"<details id=\"c{n}\" class=\"conv{' f' if failed else ''}\"><summary>"
      f"<b>{esc(ctx.red(conv.id))}</b> <span class=\"score\">{_fmt(sc.score)}</span> "
      f"<span class=\"grade\">{esc(sc.grade)}</span>")
    if sc.vetoed:
        w(" <span class=\"badge fail\">一票否决 vetoed</span>")
    meta = [(k, _meta(conv, sc, k)) for k in ("agent_id", "domain", "channel", "source")]
    info = " · ".join(f"{k}: {ctx.red(v)}" for k, v in meta if v is not None)
    w(f" <small>{esc(info)}{' · ' if info else ''}{len(conv.turns)} 轮 (turns)</small>"
      "</summary>\n<div class=\"turns\">")
    known_turns = set()
    for t in conv.turns:
        known_turns.add(t.index)
        text = ctx.red(t.text)
        turn_text[t.index] = text
        _turn(w, n, t, text, by_turn.get(t.index, []), ctx, by_evidence)
    orphans = [f for k, fs in by_turn.items() if k not in known_turns for f in fs]
    if orphans:
        w("<div class=\"t other\"><div class=\"who\">其他发现 (other findings)</div>"
          "<ul class=\"fn\">")
        for f in orphans:
            _note(w, f, ctx.red(f.text), ctx, by_evidence)
        w("</ul></div>")
    w("</div>\n")
    _rule_table(w, n, sc.rule_results, ctx, turn_text)
    w("</details>\n")


def _turn(w: Callable[[str], Any], n: int, t: Turn, text: str, findings: list[Finding],
          ctx: _Context, by_evidence: Mapping[tuple[Any, ...], list[str]]) -> None:
    tone = [f for f in findings if f.source == "classifier"]
    role = t.role if t.role in ROLE_LABELS else "unknown"
    cls = f"t {role}" + (" tone" if tone else "")
    who = [ROLE_LABELS[role]]
    if t.speaker and t.speaker != who[0]:
        who.append(ctx.red(t.speaker))
    if t.start is not None:
        who.append(_fmt_time(t.start) + (f"–{_fmt_time(t.end)}" if t.end is not None else ""))
    w(f"<div class=\"{cls}\" id=\"c{n}t{t.index}\"><div class=\"who\">#{t.index} "
      f"{esc(' · '.join(who))}</div><div class=\"tx\">")
    spans = []
    for f in findings:
        if f.source == "classifier":
            continue
        if 0 <= f.start < f.end <= len(text) and t.text[f.start:f.end] == f.text:
            spans.append((f.start, f.end, _MARK_CLASS.get(f.kind, "cue"), _tip(f, ctx)))
    w(_highlight(text, spans))
    w("</div>")
    if findings:
        w("<ul class=\"fn\">")
        for f in findings:
            ok = 0 <= f.start < f.end <= len(text) and t.text[f.start:f.end] == f.text
            _note(w, f, text[f.start:f.end] if ok else ctx.red(f.text), ctx, by_evidence)
        w("</ul>")
    w("</div>\n")


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
    """``text`` escaped, with a ``<mark>`` around each span.

    A span inside another becomes a nested ``<mark>``, so each finding's exact text is
    marked; spans that cross (``[0, 4)`` and ``[2, 9)``) are drawn as one mark over their
    union, titled with both findings.
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
    out: list[str] = []
    # iterative walk (no recursion limit on deeply nested spans): (node, next child index)
    walk: list[tuple[_Span, int, int]] = [(root, 0, 0)]
    while walk:
        node, i, pos = walk.pop()
        if i < len(node.children):
            child = node.children[i]
            out.append(esc(text[pos:child.start]))
            walk.append((node, i + 1, child.end))
            tip = " | ".join(dict.fromkeys(child.tips))
            out.append(f"<mark class=\"{child.cls}\" title=\"{esc(tip)}\">")
            walk.append((child, 0, child.start))
        else:
            out.append(esc(text[pos:node.end]))
            if node is not root:
                out.append("</mark>")
    return "".join(out)


def _note(w: Callable[[str], Any], f: Finding, shown: str, ctx: _Context,
          by_evidence: Mapping[tuple[Any, ...], list[str]]) -> None:
    kind = _kind_of(f)
    cls = {"required": "req", "banned": "ban", "classifier": "tone"}.get(kind, "cue")
    parts = [f"<li class=\"{cls}\"><b>{esc(f.code)}</b> {esc(ctx.category_title(f.category))}"
             f" · {esc(KIND_LABELS.get(kind, kind))}"]
    if kind == "classifier":
        parts.append(f" · P={f.score:.2f}")
    else:
        parts.append(f" · “{esc(shown)}”")
        if f.phrase and f.phrase != f.text:
            parts.append(f"（词条 {esc(f.phrase)}）")
    rules = _finding_rules(f, ctx, by_evidence)
    violation = kind != "required"
    if rules:
        parts.append(" · 规则 (rule) " + "、".join(
            esc(r) + (f"「{esc(ctx.rule_titles[r])}」" if violation and r in ctx.rule_titles
                      else "") for r in rules))
    if f.basis:
        # the clause in full for violations; a link (text on hover) for required phrases
        parts.append(f" · 依据 (basis)：{esc(ctx.basis_text(f.basis))}" if violation
                     else f" · 依据 {ctx.basis_link(f.basis)}")
    if f.suggestion:
        parts.append(f" · <span class=\"sug\">建议 (suggested)：{esc(f.suggestion)}</span>")
    if kind == "classifier" and f.explanation:
        parts.append(f" · <small>{esc(ctx.red(f.explanation))}</small>")
    parts.append("</li>")
    w("".join(parts))


def _evidence(e: Evidence, n: int, ctx: _Context, turn_text: Mapping[int, str]) -> str:
    bits = [esc(ctx.red(e.note))]
    if e.turn is not None:
        where = f"<a href=\"#c{n}t{e.turn}\">第 {e.turn} 轮</a>"
        text = turn_text.get(e.turn)
        if (e.text and text is not None and e.start is not None and e.end is not None
                and 0 <= e.start < e.end <= len(text)):
            shown = text[e.start:e.end]
        else:
            shown = ctx.red(e.text) if e.text else ""
        if shown and e.note.find(e.text or "\0") < 0:
            if len(shown) > 80:
                shown = shown[:79] + "…"
            where += f" “{esc(shown)}”"
        bits.append(where)
    if e.window is not None:
        bits.append(f"检查范围 (searched) 第 {e.window[0]}–{e.window[1] - 1} 轮")
    return " · ".join(bits)


def _rule_table(w: Callable[[str], Any], n: int, results: Sequence[RuleResult], ctx: _Context,
                turn_text: Mapping[int, str]) -> None:
    if not results:
        return
    w("<table class=\"rules\"><thead><tr><th>规则 (rule)</th><th>结果 (outcome)</th>"
      "<th>扣分</th><th>说明 (message)</th><th>证据 (evidence)</th></tr></thead><tbody>")
    for r in results:
        outcome = r.outcome
        title = r.title or ctx.rule_titles.get(r.rule_id, "")
        basis_id = r.basis or ctx.rule_bases.get(r.rule_id)
        w(f"<tr class=\"{outcome}\"><td><code>{esc(r.rule_id)}</code> {esc(title)}")
        if r.veto:
            w(" <span class=\"badge fail\">否决项</span>")
        if basis_id and outcome == "fail":  # every clause is listed once in #bases
            w(f"<div class=\"basis\">依据 {ctx.basis_link(basis_id)}</div>")
        w(f"</td><td><span class=\"badge {outcome}\">{OUTCOME_SHORT[outcome]}</span></td>"
          f"<td>{_fmt(r.deduction) if r.deduction else ''}</td><td>{esc(ctx.red(r.message))}</td>"
          "<td>")
        if len(r.evidence) == 1:
            w(_evidence(r.evidence[0], n, ctx, turn_text))
        elif r.evidence:
            w("<ul>" + "".join(f"<li>{_evidence(e, n, ctx, turn_text)}</li>"
                               for e in r.evidence) + "</ul>")
        w("</td></tr>")
    w("</tbody></table>\n")


# ------------------------------------------------------------------------------ assets

_CSS = """
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--accent:#2f5597;
--req:#e3f4e8;--req-b:#2e7d32;--ban:#fde3e1;--ban-b:#c62828;--cue:#e3eefb;--cue-b:#1f5fa8;
--tone:#ef8a17}
*{box-sizing:border-box}
body{margin:0;font:14px/1.55 -apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB",
"Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei",sans-serif;
color:var(--fg);background:var(--bg)}
header.top{background:#1f3864;color:#fff;padding:18px 28px 10px}
header.top h1{margin:0 0 4px;font-size:22px;font-weight:600}
header .sub{margin:0 0 8px;color:#d5def0;font-size:13px}
header .sub code{color:#fff}
header .warn{color:#ffd166}
nav a{color:#fff;margin-right:16px;text-decoration:none;font-size:13px;opacity:.9}
nav a:hover{text-decoration:underline}
main{max-width:1320px;margin:0 auto;padding:8px 28px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;
margin:16px 0}
h2{font-size:17px;margin:0 0 12px;font-weight:600}
h2 small{color:var(--muted);font-weight:400}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:#fbfcfe}
.card .v{font-size:26px;font-weight:600;color:var(--accent)}
.card.bad .v{color:var(--ban-b)}
.card .k{color:var(--muted);font-size:13px;line-height:1.3}
.grades{margin:12px 0 0}
.chip{display:inline-block;border:1px solid var(--line);border-radius:14px;padding:1px 10px;
margin:2px 6px 2px 0;background:#fbfcfe}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
figure{margin:0}
figcaption{font-weight:600;margin-bottom:6px}
svg.chart{width:100%;height:auto;font-size:11px}
svg .grid{stroke:#eef0f3}
svg .axis{fill:var(--muted)}
svg .val{fill:var(--fg);font-size:11px}
svg rect.pass{fill:#4f7cc4}
svg rect.fail{fill:#d9534f}
svg rect.bar-rule{fill:#d9534f}
svg rect.bar-cat{fill:#e08a2e}
.tools{display:flex;gap:14px;align-items:center;margin-bottom:8px;flex-wrap:wrap}
.tools input[type=search]{flex:0 1 360px;padding:6px 10px;border:1px solid #cbd2d9;
border-radius:6px;font:inherit}
#count{color:var(--muted)}
#more{margin-top:8px;padding:4px 14px;border:1px solid #cbd2d9;border-radius:6px;background:#fff;
cursor:pointer;font:inherit}
.scroll{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#eef2f7;font-weight:600;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" ▲";font-size:10px}
table.sortable th[aria-sort=descending]::after{content:" ▼";font-size:10px}
tbody tr:nth-child(even){background:#fafbfc}
tr.f td:nth-child(2){color:var(--ban-b);font-weight:600}
td a{color:var(--accent);text-decoration:none}
#conv-table td:first-child{white-space:nowrap}
.empty{color:var(--muted)}
.legend{margin:0 0 10px;color:var(--muted)}
details.conv{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details.conv>summary{cursor:pointer;padding:7px 12px;list-style-position:inside}
details.conv.f>summary{border-left:4px solid var(--ban-b)}
details.conv[open]>summary{background:#eef2f7}
details.conv:target{outline:2px solid var(--accent)}
summary .score{font-weight:600;margin-left:8px}
details.conv.f summary .score{color:var(--ban-b)}
summary .grade{color:var(--muted);margin-left:4px}
summary small{color:var(--muted);margin-left:8px}
.turns{padding:8px 12px;display:flex;flex-direction:column;gap:6px}
.t{max-width:82%;border-radius:8px;padding:5px 10px;border:1px solid var(--line)}
.t.agent{align-self:flex-start;background:#f3f6fb}
.t.customer{align-self:flex-end;background:#fff}
.t.system,.t.unknown,.t.other{align-self:center;background:#fafafa;max-width:100%}
.t.tone{outline:2px solid var(--tone);outline-offset:1px}
.t:target{box-shadow:0 0 0 3px #9bb7e8}
.who{font-size:12px;color:var(--muted)}
.tx{white-space:pre-wrap;word-break:break-word}
mark{border-radius:3px;padding:0 1px;color:inherit}
mark.req{background:var(--req);border-bottom:2px solid var(--req-b)}
mark.ban{background:var(--ban);border-bottom:2px solid var(--ban-b)}
mark.cue{background:var(--cue);border-bottom:2px solid var(--cue-b)}
.tone-key{outline:2px solid var(--tone);border-radius:3px;padding:0 4px}
ul.fn{margin:4px 0 0;padding-left:18px;font-size:12px;color:var(--muted)}
ul.fn li.ban{color:#8a1c1c}
ul.fn li.tone{color:#9a4d00}
ul.fn li.req{color:#2f5e33}
.sug{color:var(--fg);font-weight:600}
table.rules{margin:6px 12px 12px;width:calc(100% - 24px);font-size:13px}
table.rules td ul{margin:0;padding-left:16px}
table.rules tr.fail td:first-child{border-left:3px solid var(--ban-b)}
.basis{font-size:12px;color:var(--muted)}
a.b{color:inherit;text-decoration:underline dotted;cursor:help}
dl.bases dt{font-weight:600;margin-top:6px}
dl.bases dd{margin:2px 0 0 18px;color:var(--muted)}
dl.bases dd:target{background:#fff5cc}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;white-space:nowrap}
.badge.pass{background:var(--req);color:var(--req-b)}
.badge.fail{background:var(--ban);color:var(--ban-b)}
.badge.na{background:#eceff3;color:var(--muted)}
footer{text-align:center;color:var(--muted);font-size:12px;padding:10px 0 24px}
@media print{.scroll{max-height:none}details.conv{break-inside:avoid}}
"""

_SCRIPT = """
(function () {
  "use strict";
  var PAGE = 500;  // rows shown at once: laying out 10k table rows takes seconds
  var coll = new Intl.Collator("zh-CN", {numeric: true});

  // Reorder or re-filter a tbody while it is detached, then put it back: one layout.
  function detached(body, fn) {
    var parent = body.parentNode, next = body.nextSibling;
    parent.removeChild(body);
    fn();
    parent.insertBefore(body, next);
  }

  function sortable(table, after) {
    var body = table.tBodies[0];
    if (!body || !table.tHead) return;
    var rows = Array.prototype.slice.call(body.rows);
    table.tHead.addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (!th) return;
      var col = th.cellIndex, numeric = th.dataset.t === "n";
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      var keys = rows.map(function (r, i) {
        var c = r.cells[col], v = c ? (c.dataset.v !== undefined ? c.dataset.v : c.textContent)
                                    : "";
        if (numeric) { v = parseFloat(v); if (isNaN(v)) v = -Infinity; }
        return [v, i];
      });
      keys.sort(function (a, b) {
        var d = numeric ? (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) : coll.compare(a[0], b[0]);
        return d * dir || a[1] - b[1];
      });
      detached(body, function () {
        for (var k = 0; k < keys.length; k++) body.appendChild(rows[keys[k][1]]);
        if (after) after();
      });
      Array.prototype.forEach.call(th.parentNode.cells, function (h) {
        h.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    });
  }

  var table = document.getElementById("conv-table");
  var input = document.getElementById("filter");
  var only = document.getElementById("only-failed");
  var count = document.getElementById("count");
  var more = document.getElementById("more");
  var tbody = table ? table.tBodies[0] : null;
  var limit = PAGE;
  var texts = null;
  function show() {  // filter and page the conversation rows, in their current (sorted) order
    var rows = tbody.rows, n = rows.length;
    var q = input.value.trim().toLowerCase(), failedOnly = only.checked;
    if (q && texts === null) {
      texts = new Map();
      for (var j = 0; j < n; j++) texts.set(rows[j], rows[j].textContent.toLowerCase());
    }
    var matched = 0, shown = 0;
    for (var i = 0; i < n; i++) {
      var r = rows[i];
      var ok = !((q && texts.get(r).indexOf(q) < 0) || (failedOnly && !r.classList.contains("f")));
      if (ok) matched++;
      var hide = !ok || matched > limit;
      if (!hide) shown++;
      if (r.hidden !== hide) r.hidden = hide;
    }
    count.textContent = "显示 " + shown + " / 匹配 " + matched + " / 共 " + n;
    more.hidden = matched <= limit;
  }
  if (tbody && input && only && count && more) {
    sortable(table, show);
    var timer = 0;
    var refresh = function () { limit = PAGE; detached(tbody, show); };
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    });
    only.addEventListener("change", refresh);
    more.addEventListener("click", function () { limit += PAGE * 4; detached(tbody, show); });
    detached(tbody, show);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
    if (t !== table) sortable(t, null);
  });

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) return;
    var d = el.tagName === "DETAILS" ? el : el.closest("details");
    if (d && !d.open) { d.open = true; el.scrollIntoView(); }
  }
  // basis links show their clause on hover, looked up once from the bases section
  document.addEventListener("mouseover", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.b") : null;
    if (!a || a.title) return;
    var dd = document.getElementById(a.getAttribute("href").slice(1));
    if (dd) a.title = dd.textContent;
  });
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.body.dataset.ready = "1";
})();
"""
