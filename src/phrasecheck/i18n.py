"""What a QA user reads, in Chinese (the default) or English: labels, column headers, values
such as pass/fail and grades, and the messages of rules, evidence and alerts.

Programs keep stable English keys: CSV, JSONL and Parquet columns, ``RuleResult.message``
and ``Evidence.note`` (the rules write them in English, as the API has always given them).
Only what a person reads goes through here: the HTML and Excel reports, the command line's
summary and the real-time monitor's alerts.

The rules' messages are translated by pattern (:func:`rule_message`, :func:`evidence_note`):
every message ``phrasecheck.rules`` writes has one here (``tests/test_i18n.py`` runs each
rule kind to its every outcome and fails on a message left in English). A message that
matches no pattern (a rule kind added later, a note written by hand) is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "Labels",
    "check_lang",
    "column_label",
    "evidence_note",
    "grade_label",
    "labels",
    "pick",
    "rule_message",
    "summary_label",
    "value_label",
]

LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_LANG = "zh"


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`, else a ``ValueError`` naming them."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} (available: {', '.join(LANGS)})")
    return lang


def pick(pair: tuple[str, str], lang: str) -> str:
    """The ``lang`` one of a (Chinese, English) pair."""
    return pair[0] if lang == "zh" else pair[1]


# ------------------------------------------------------------------------------ labels
# key -> (Chinese, English). Keys are used by the templates as ``L.key``: never name one
# after a dict method (items, keys, values, get).

_TEXT: dict[str, tuple[str, str]] = {
    # report header and navigation
    "report_title": ("服务用语质检报告", "Courtesy-compliance QA report"),
    "policy": ("策略", "Policy"),
    "generated": ("生成于", "Generated"),
    "redacted": ("个人信息已脱敏", "Personal data masked"),
    "not_redacted": ("未脱敏", "Not redacted"),
    "nav_overview": ("概览", "Overview"),
    "nav_charts": ("图表", "Charts"),
    "nav_list": ("会话列表", "Conversations"),
    "nav_agents": ("坐席", "Agents"),
    "nav_errors": ("读取错误", "Read errors"),
    "nav_details": ("会话详情", "Details"),
    "nav_bases": ("依据条款", "Basis clauses"),
    "nav_review": ("复核", "Review"),
    # overview
    "overview": ("概览", "Overview"),
    "card_conversations": ("会话数", "Conversations"),
    "card_errors": ("读取错误", "Read errors"),
    "card_mean": ("平均分", "Mean score"),
    "card_median": ("中位数", "Median score"),
    "card_vetoed": ("一票否决", "Vetoed"),
    "card_failed": ("未达标", "Failed"),
    "card_failed_hint": ("低于 {line} 分或被否决", "below {line} or vetoed"),
    "grades": ("等级分布", "Grades"),
    "charts": ("图表", "Charts"),
    "chart_scores": ("分数分布", "Score distribution"),
    "chart_rules": ("各规则未通过会话数", "Conversations failing each rule"),
    "chart_categories": ("违规发现按类别", "Violations by category"),
    "chart_score_axis": ("分数 · 红色 = 低于 {line} 分", "score · red = below {line}"),
    "none": ("无", "none"),
    # conversation table
    "conversations": ("会话列表", "Conversations"),
    "filter_placeholder": ("筛选：编号、等级、规则、坐席…", "Filter: id, grade, rule, agent…"),
    "filter": ("筛选", "Filter"),
    "failed_only": ("只看未达标", "Failed only"),
    "total_n": ("共 {n}", "{n} in all"),
    "count_js": ("显示 {shown} / 匹配 {matched} / 共 {n}", "showing {shown} / {matched} "
                                                          "matched / {n} in all"),
    "show_more": ("显示更多", "Show more"),
    "col_id": ("会话", "Conversation"),
    "col_score": ("分数", "Score"),
    "col_grade": ("等级", "Grade"),
    "col_vetoed": ("否决", "Vetoed"),
    "col_failed_rules": ("未通过规则", "Failed rules"),
    "col_violations": ("违规数", "Violations"),
    "col_agent": ("坐席", "Agent"),
    "col_domain": ("领域", "Domain"),
    "col_review": ("复核", "Review"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "sorted_worst_first": ("按分数从低到高排列", "worst first"),
    # agents
    "agents": ("坐席", "Agents"),
    "col_n": ("会话数", "Conversations"),
    "col_mean": ("平均分", "Mean"),
    "col_min": ("最低分", "Lowest"),
    "col_failed": ("未达标", "Failed"),
    "col_rule_failures": ("规则未通过次数", "Rule failures"),
    # errors
    "errors": ("读取错误", "Read errors"),
    "col_path": ("文件", "File"),
    "col_line": ("行", "Line"),
    "col_reason": ("原因", "Reason"),
    # details
    "details": ("会话详情", "Conversation details"),
    "legend_required": ("规范用语", "Required phrase"),
    "legend_banned": ("服务忌语", "Banned phrase"),
    "legend_cue": ("线索", "Cue"),
    "legend_tone": ("语气模型判定", "Tone model verdict"),
    "legend_low_conf": ("角色推断置信度低", "Role inferred with low confidence"),
    "no_conversations": ("没有会话", "No conversations"),
    "turns_n": ("{n} 轮", "{n} turns"),
    "vetoed_badge": ("一票否决", "vetoed"),
    "veto_rule": ("否决项", "veto"),
    "other_findings": ("其他发现", "Other findings"),
    "lexicon_phrase": ("词条", "entry"),
    "rule": ("规则", "rule"),
    "basis": ("依据", "basis"),
    "suggested": ("建议", "Say instead"),
    "col_rule": ("规则", "Rule"),
    "col_outcome": ("结果", "Outcome"),
    "col_deduction": ("扣分", "Deduction"),
    "col_message": ("说明", "Message"),
    "col_evidence": ("证据", "Evidence"),
    "turn_n": ("第 {n} 轮", "turn {n}"),
    "searched": ("检查范围 第 {a}–{b} 轮", "searched turns {a}–{b}"),
    "bases": ("依据条款", "Basis clauses"),
    "footer": ("{n} 个会话 · {e} 个读取错误", "{n} conversations · {e} read errors"),
    "inferred_roles": ("角色为推断", "roles inferred"),
    "inferred_roles_tip": ("单声道或未标注说话人：坐席/客户由 {method} 推断，置信度 {conf}",
                           "undiarised or unlabelled speakers: agent/customer inferred by "
                           "{method}, confidence {conf}"),
    "low_conf_turn": ("角色置信度 {conf}", "role confidence {conf}"),
    # review
    "review": ("复核", "Review"),
    "review_intro": ("逐条标记发现与未通过规则：确认、误报或待定，可加备注；标记保存在本浏览器中，"
                     "导出后用 phrasecheck review apply 合并到评分。",
                     "Mark each finding and failed rule as confirmed, false alarm or pending, "
                     "with an optional comment; marks are kept in this browser. Export them and "
                     "merge them into the scores with phrasecheck review apply."),
    "reviewer": ("复核人", "Reviewer"),
    "reviewer_placeholder": ("姓名或工号", "name or staff id"),
    "review_filter": ("按复核状态筛选", "Filter by review state"),
    "review_all": ("全部", "all"),
    "review_open": ("未复核", "not reviewed"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_json": ("导出 JSON", "Export JSON"),
    "review_counts": ("已复核 {done} / {n}", "reviewed {done} / {n}"),
    "comment": ("备注", "Comment"),
    "comment_placeholder": ("备注（可选）", "comment (optional)"),
    "reviewed_by": ("复核", "reviewed"),
    "clear_review": ("清除本页标记", "Clear marks"),
    "clear_confirm": ("清除本报告在此浏览器中的全部复核标记？", "Clear every review mark of this "
                                                               "report in this browser?"),
    "applied_review": ("已合并复核结果：{n} 条", "review merged: {n} verdicts"),
    "score_before": ("复核前 {score}", "before review {score}"),
}

#: English column keys of the tables -> what the Excel report shows as their header
_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("会话编号", "Conversation"),
    "conversation_id": ("会话编号", "Conversation"),
    "score": ("分数", "Score"),
    "grade": ("等级", "Grade"),
    "vetoed": ("一票否决", "Vetoed"),
    "policy": ("策略", "Policy"),
    "n_findings": ("发现数", "Findings"),
    "n_banned": ("忌语数", "Banned phrases"),
    "n_violations": ("违规数", "Violations"),
    "failed_rules": ("未通过规则", "Failed rules"),
    "deduction": ("扣分", "Deduction"),
    "agent_id": ("坐席", "Agent"),
    "domain": ("领域", "Domain"),
    "channel": ("渠道", "Channel"),
    "source": ("来源", "Source"),
    "format": ("格式", "Format"),
    "layout": ("说话人标注", "Speaker layout"),
    "role_confidence": ("角色置信度", "Role confidence"),
    "turn": ("轮次", "Turn"),
    "role": ("角色", "Role"),
    "start": ("起", "Start"),
    "end": ("止", "End"),
    "text": ("原文", "Text"),
    "context": ("上下文", "Context"),
    "context_start": ("上下文起点", "Context start"),
    "code": ("编码", "Code"),
    "category": ("类别", "Category"),
    "kind": ("类型", "Kind"),
    "severity": ("严重程度", "Severity"),
    "phrase": ("词条", "Entry"),
    "suggestion": ("建议用语", "Say instead"),
    "rules": ("相关规则", "Rules"),
    "rule": ("规则", "Rule"),
    "rule_id": ("规则", "Rule"),
    "title": ("规则名称", "Rule title"),
    "outcome": ("结果", "Outcome"),
    "veto": ("否决项", "Veto"),
    "message": ("说明", "Message"),
    "evidence": ("证据", "Evidence"),
    "basis": ("依据", "Basis"),
    "basis_text": ("依据条款", "Basis clause"),
    "explanation": ("说明", "Explanation"),
    "path": ("文件", "File"),
    "line": ("行", "Line"),
    "reason": ("原因", "Reason"),
    "target": ("复核对象", "Target"),
    "verdict": ("复核结论", "Verdict"),
    "reviewer": ("复核人", "Reviewer"),
    "comment": ("备注", "Comment"),
    "time": ("复核时间", "Reviewed at"),
    "mean": ("平均分", "Mean score"),
    "min": ("最低分", "Lowest score"),
    "failed": ("未达标", "Failed"),
    "conversations": ("会话数", "Conversations"),
    "rule_failures": ("规则未通过次数", "Rule failures"),
    "score_before": ("复核前分数", "Score before review"),
    "grade_before": ("复核前等级", "Grade before review"),
    "metric": ("指标", "Metric"),
    "value": ("值", "Value"),
}

_VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "outcome": {"pass": ("通过", "pass"), "fail": ("未通过", "fail"), "na": ("不适用", "n/a")},
    "kind": {"required": ("规范用语", "required"), "banned": ("服务忌语", "banned"),
             "cue": ("线索", "cue"), "classifier": ("语气模型", "tone model"),
             "rule": ("规则", "rule")},
    "severity": {"info": ("提示", "info"), "minor": ("轻微", "minor"),
                 "major": ("严重", "major"), "critical": ("致命", "critical")},
    "role": {"agent": ("坐席", "agent"), "customer": ("客户", "customer"),
             "system": ("系统", "system"), "unknown": ("未知", "unknown")},
    "source": {"lexicon": ("词库", "lexicon"), "classifier": ("语气模型", "tone model"),
               "rule": ("规则", "rule")},
    "verdict": {"confirmed": ("确认", "confirmed"), "false_positive": ("误报", "false alarm"),
                "pending": ("待定", "pending")},
    "target": {"finding": ("发现", "finding"), "rule": ("规则", "rule")},
    "label": {"rude": ("生硬粗鲁", "rude"), "evasive": ("推诿搪塞", "evasive"),
              "ok": ("正常", "ok")},
    "bool": {"True": ("是", "yes"), "False": ("否", "no")},
}

#: the grade names of the presets, in English
_GRADES_EN = {"优秀": "excellent", "良好": "good", "合格": "pass", "不合格": "fail"}

_SUMMARY: dict[str, tuple[str, str]] = {
    "policy": ("策略", "policy"),
    "conversations scored": ("已评分会话", "conversations scored"),
    "errors": ("读取错误", "read errors"),
    "mean score": ("平均分", "mean score"),
    "median score": ("中位数", "median score"),
    "vetoed": ("一票否决", "vetoed"),
    "pass line": ("达标线", "pass line"),
    "failed": ("未达标会话", "conversations failed"),
    "grade": ("等级", "grade"),
    "violations of": ("未通过", "failures of"),
    "resumed": ("沿用上次评分", "from an earlier run"),
    "time": ("用时", "time"),
    "most frequent violations": ("最常见的未通过规则", "most frequent violations"),
    "errors (files/lines not read)": ("读取错误（未读入的文件/行）",
                                      "errors (files/lines not read)"),
    "rows not shown": ("未显示的行（Excel 最多 {limit:,} 行）", "rows not shown (Excel holds "
                                                              "{limit:,})"),
    "below": ("{n} 个会话低于 --fail-under", "{n} conversation(s) below --fail-under"),
    "input problems": ("{n} 个输入问题，前几个：", "{n} input problem(s), first few:"),
    "wrote": ("已写入", "wrote"),
    "none": ("无", "none"),
    "reviewed": ("已复核条目", "verdicts merged"),
}


class Labels(Mapping[str, str]):
    """The labels of one language, by key (``L["overview"]`` or, in a template,
    ``L.overview``); a missing key is a ``KeyError``, never an empty label."""

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)
        self._data = {k: pick(v, self.lang) for k, v in _TEXT.items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __getattr__(self, key: str) -> str:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


_LABELS: dict[str, Labels] = {}


def labels(lang: str = DEFAULT_LANG) -> Labels:
    got = _LABELS.get(lang)
    if got is None:
        got = _LABELS[lang] = Labels(lang)
    return got


def column_label(column: str, lang: str = DEFAULT_LANG,
                 rule_titles: Mapping[str, str] | None = None) -> str:
    """The header a person reads for a table column (``rule_<id>`` columns: the rule's
    title); unknown columns keep their key."""
    check_lang(lang)
    if column.startswith("rule_") and column not in _COLUMNS:
        rid = column[5:]
        title = (rule_titles or {}).get(rid)
        if lang == "zh":
            return f"{title}（{rid}）" if title else f"规则 {rid}"
        return f"rule {rid}" + (f" ({title})" if title else "")
    pair = _COLUMNS.get(column)
    return column if pair is None else pick(pair, lang)


def value_label(kind: str, value: Any, lang: str = DEFAULT_LANG) -> str:
    """A value as a person reads it: ``value_label("outcome", "fail") == "未通过"``;
    unknown values are returned as text unchanged."""
    table = _VALUES.get(kind, {})
    pair = table.get(str(value))
    return str(value) if pair is None else pick(pair, lang)


def value_from_label(kind: str, text: str) -> str | None:
    """The key of a value given as its key or as its label in any language
    (``"误报"``, ``"false alarm"``, ``"false_positive"`` -> ``"false_positive"``)."""
    s = str(text).strip()
    low = s.lower()
    for key, pair in _VALUES.get(kind, {}).items():
        if low == key or s in pair or low in (p.lower() for p in pair):
            return key
    return None


def grade_label(grade: str, lang: str = DEFAULT_LANG) -> str:
    """A grade as shown: the policy's own name in Chinese; in English the presets' names
    translated (others as they are)."""
    return grade if lang == "zh" else _GRADES_EN.get(grade, grade)


def summary_label(key: str, lang: str = DEFAULT_LANG) -> str:
    """A metric of the summary as a person reads it (``"grade 优秀"`` -> ``"等级 优秀"``)."""
    pair = _SUMMARY.get(key)
    if pair is not None:
        return pick(pair, lang)
    for prefix in ("grade ", "violations of "):
        if key.startswith(prefix):
            rest = key[len(prefix):]
            if prefix == "grade ":
                rest = grade_label(rest, lang)
            return f"{pick(_SUMMARY[prefix.strip()], lang)} {rest}"
    return key


# ------------------------------------------------------------------------------ messages

CategoryTitle = Callable[[str], str]


def _cats(text: str, title: CategoryTitle) -> str:
    return "/".join(title(c) for c in text.split("/"))


def _role(role: str) -> str:
    return value_label("role", role, "zh")


def _label(label: str) -> str:
    return value_label("label", label, "zh")


def _why(why: str, title: CategoryTitle) -> str:
    """The reason a context rule fired (a trigger phrase, a hold cue, a silence)."""
    m = re.fullmatch(r"“(?P<text>.*)” \((?P<cat>[\w.\-]+)\)", why, re.S)
    if m:
        return f"“{m['text']}”（{title(m['cat'])}）"
    m = re.fullmatch(r"hold cue “(?P<text>.*)”", why, re.S)
    if m:
        return f"等候动作“{m['text']}”"
    m = re.fullmatch(r"(?P<s>\d+)s silence before turn (?P<turn>\d+)", why)
    if m:
        return f"第 {m['turn']} 轮前静默 {m['s']} 秒"
    if why.startswith(("hold: ", "complaint in turn ")):
        # the evidence of a hold or complaint event (phrasecheck.holds / .complaints)
        parts = [_event_part(p) for p in why.removeprefix("hold: ").split("; ")]
        return ("等候：" if why.startswith("hold: ") else "") + "；".join(parts)
    return why


def _event_part(part: str) -> str:
    for pattern, say in _EVENT_PARTS:
        m = pattern.fullmatch(part)
        if m:
            return say(m)
    return part


_EVENT_PARTS: list[tuple[re.Pattern[str], Callable[[Any], str]]] = [
    (re.compile(r"turn (\d+) announces a hold, model P=([\d.]+) \(“(.*)”\)", re.S),
     lambda m: f"第 {m[1]} 轮告知要离开去办理（等候识别模型概率 {m[2]}，依据“{m[3]}”）"),
    (re.compile(r"turn (\d+) announces “(.*)” \((\S+)\)", re.S),
     lambda m: f"第 {m[1]} 轮说“{m[2]}”（{m[3]}），要离开去办理"),
    (re.compile(r"no announcement after turn (\d+)"), lambda m: f"第 {m[1]} 轮之后没有告知"),
    (re.compile(r"(\d+)s silence before turn (\d+)"),
     lambda m: f"第 {m[2]} 轮前静默 {m[1]} 秒"),
    (re.compile(r"turn (\d+) comes back with “(.*)”", re.S),
     lambda m: f"第 {m[1]} 轮以“{m[2]}”回到通话"),
    (re.compile(r"complaint in turn (\d+)"), lambda m: f"第 {m[1]} 轮客户投诉或不满"),
    (re.compile(r"detector P = ([\d.]+)"), lambda m: f"投诉识别模型概率 {m[1]}"),
    (re.compile(r"cue (.*)", re.S), lambda m: f"线索 {m[1]}"),
    (re.compile(r"words (.*)", re.S), lambda m: f"关键词 {m[1]}"),
]


_WHERE = {"first": "前 {n} 个", "last": "最后 {n} 个"}
_COMPOSE = {"all": "全部满足", "any": "任一满足", "none": "均不满足"}

_Translate = Callable[["re.Match[str]", CategoryTitle], str]


def _where(m: re.Match[str]) -> str:
    w = m["where"]
    if w == "anywhere":
        return "全部"
    edge, n = w.split()
    return _WHERE[edge].format(n=n)


_MESSAGES: list[tuple[re.Pattern[str], _Translate]] = [
    (re.compile(r"found “(?P<text>.*)” in turn (?P<turn>\d+)", re.S),
     lambda m, t: f"第 {m['turn']} 轮有“{m['text']}”"),
    (re.compile(r"expected an? (?P<cats>\S+) phrase in the (?P<where>first \d+|last \d+|"
                r"anywhere) (?P<role>\w+) turns"),
     lambda m, t: f"{_where(m)}{_role(m['role'])}话轮中没有{_cats(m['cats'], t)}"),
    (re.compile(r"no (?P<role>\w+) turns to check"),
     lambda m, t: f"没有{_role(m['role'])}话轮可查"),
    (re.compile(r"no banned phrase"), lambda m, t: "没有服务忌语"),
    (re.compile(r"(?P<n>\d+) banned phrase\(s\): (?P<texts>.*)", re.S),
     lambda m, t: f"{m['n']} 处服务忌语：{m['texts']}"),
    (re.compile(r"no classifier model loaded"), lambda m, t: "未加载语气模型"),
    (re.compile(r"no (?P<label>\w+) reply"), lambda m, t: f"没有{_label(m['label'])}的回复"),
    (re.compile(r"(?P<n>\d+) (?P<label>\w+) repl\(ies\)"),
     lambda m, t: f"{m['n']} 句回复被语气模型判为{_label(m['label'])}"),
    (re.compile(r"no trigger"), lambda m, t: "未触发"),
    (re.compile(r"no trigger could be answered"), lambda m, t: "触发后没有可以回应的话轮"),
    (re.compile(r"every trigger answered"), lambda m, t: "每次触发都已回应"),
    (re.compile(r"(?P<n>\d+) trigger\(s\) not answered"),
     lambda m, t: f"{m['n']} 次触发未回应"),
    (re.compile(r"no condition applies"), lambda m, t: "各条件均不适用"),
    (re.compile(r"(?P<kind>all|any|none) of (?P<n>\d+) conditions: (?P<met>met|not met)"),
     lambda m, t: f"{m['n']} 个条件{_COMPOSE[m['kind']]}："
                  + ("满足" if m["met"] == "met" else "不满足")),
]

_NOTES: list[tuple[re.Pattern[str], _Translate]] = [
    (re.compile(r"(?P<cat>[\w.\-]+) phrase (?P<code>\S+)"),
     lambda m, t: f"{t(m['cat'])} {m['code']}"),
    (re.compile(r"(?P<cat>[\w.\-]+) \((?P<sev>\w+)\) (?P<code>\S+)(?:; say instead: .*)?",
                re.S),
     lambda m, t: f"{t(m['cat'])}（{value_label('severity', m['sev'])}）{m['code']}"),
    (re.compile(r"reply-tone classifier: P\((?P<label>\w+)\) = (?P<p>[\d.]+)"
                r"(?:; cues: (?P<cues>.*?))?(?: \(rule (?P<rule>[\w.\-]+)\))?"
                r"(?: \[(?P<sub>\w+) \w+\])?(?: — (?P<why>.*))?", re.S),
     lambda m, t: f"语气模型：P({_label(m['label'])}) = {m['p']}"
                  + (f"；线索：{m['cues']}" if m["cues"] else "")
                  + (f"（规则 {m['rule']}）" if m["rule"] else "")
                  + (f"【{m['sub']}】" if m["sub"] else "")
                  + (f"——{_tone_reason(m['why'])}" if m["why"] else "")),
    (re.compile(r"after trigger in turn (?P<turn>\d+): (?P<why>.*)", re.S),
     lambda m, t: f"回应了第 {m['turn']} 轮：{_why(m['why'], t)}"),
    (re.compile(r"turn (?P<turn>\d+): (?P<why>.*); expected (?P<cats>\S+) in the "
                r"(?P<within>\d+) (?P<role>\w+) turn\(s\) (?P<dir>after|before) it", re.S),
     lambda m, t: f"第 {m['turn']} 轮：{_why(m['why'], t)}；"
                  f"{'之后' if m['dir'] == 'after' else '之前'} {m['within']} 个"
                  f"{_role(m['role'])}话轮中应有{_cats(m['cats'], t)}"),
    (re.compile(r"searched here"), lambda m, t: "检查范围"),
]

_TONE_REASONS = {
    "a short reply to a complaint": "对投诉的简短回复",
    "too short to judge without a complaint before it": "回复过短，前面没有投诉，不据此判断",
}


def _tone_reason(why: str) -> str:
    """A tone decision's reason (:func:`phrasecheck.tone.decide`) in Chinese."""
    head, _, mix = why.partition(", ")
    zh = _TONE_REASONS.get(head, why)
    m = re.fullmatch(r"(\w+) at the training mix", mix)
    return zh + (f"，按训练语料的类别比例判为{_label(m[1])}" if m else "")


_SAY_INSTEAD = re.compile(r"; say instead: .*\Z", re.S)


def _translate(text: str, table: list[tuple[re.Pattern[str], _Translate]],
               title: CategoryTitle) -> str | None:
    for pattern, make in table:
        m = pattern.fullmatch(text)
        if m:
            return make(m, title)
    return None


def rule_message(message: str, lang: str = DEFAULT_LANG,
                 category_title: CategoryTitle | None = None) -> str:
    """A rule result's ``message`` as shown to a person in ``lang``."""
    if lang != "zh" or not message:
        return message
    got = _translate(message, _MESSAGES, category_title or str)
    return message if got is None else got


def evidence_note(note: str, lang: str = DEFAULT_LANG,
                  category_title: CategoryTitle | None = None) -> str:
    """An evidence ``note`` (or a tone finding's ``explanation``) as shown in ``lang``; the
    suggestion a forbid rule's note repeats is left out (each finding shows it once)."""
    if not note:
        return note
    if lang != "zh":
        return _SAY_INSTEAD.sub("", note)
    got = _translate(note, _NOTES, category_title or str)
    if got is None:
        got = _translate(note, _MESSAGES, category_title or str)
    return note if got is None else got


def translated(text: str, category_title: CategoryTitle | None = None) -> bool:
    """True when ``text`` (a rule message or evidence note) has a Chinese rendering."""
    title = category_title or str
    return (_translate(text, _MESSAGES, title) is not None
            or _translate(text, _NOTES, title) is not None)


# ------------------------------------------------------------------------------ alerts

_ALERTS: dict[str, tuple[str, str]] = {
    "banned_phrase": ("服务忌语 {texts}", "banned phrase {texts}"),
    "veto": ("{title}：{texts}，整通会话不合格（一票否决）",
             "{title}: {texts} fails the whole conversation (一票否决)"),
    "tone": ("{label_zh}的回复（P = {p:.2f}）", "{label} reply (P = {p:.2f})"),
    "missing_greeting": ("前 {n} 个坐席话轮没有问候语", "no greeting in the first {n} agent "
                                                      "turn(s)"),
    "no_apology": ("第 {turn} 轮的投诉没有得到致歉或安抚", "the complaint in turn {turn} has had "
                                                        "no apology or reassurance"),
    "no_thanks_after_hold": ("等候结束后没有感谢客户耐心等待", "back from a hold without "
                                                            "thanking the customer for waiting"),
    "no_wait": ("让客户等候前没有说“请稍等”", "putting the customer on hold without 请稍等"),
}


def alert_message(kind: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    """The message of a real-time alert of ``kind`` in ``lang``."""
    check_lang(lang)
    if "label" in params:
        params.setdefault("label_zh", _label(str(params["label"])))
    return pick(_ALERTS[kind], lang).format(**params)
