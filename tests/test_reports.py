"""The HTML and Excel reports, and atomic writes."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from phrasecheck.analyzer import Analyzer
from phrasecheck.reports import atomic_write, write_html_report, write_xlsx_report
from phrasecheck.types import (
    Conversation,
    ConversationScore,
    Evidence,
    Finding,
    ReadError,
    RuleResult,
    Turn,
)

PHONE = "13812345678"
PHONE_MASKED = "138****5678"
ID_CARD = "11010519491231002X"
SHIRK = "这不归我管"
SCRIPT = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(model=None)


def _conversations() -> list[Conversation]:
    return [
        Conversation("call-0001", (
            Turn(0, "agent", "您好，请问有什么可以帮您？", 0.0, 2.0, "坐席"),
            Turn(1, "customer", f"我的手机号{PHONE}，怎么还没办好", 2.5, 6.0, "说话人2"),
            Turn(2, "agent", "非常抱歉让您久等了，请稍等，我帮您查一下。", 6.2, 9.0),
            Turn(3, "agent", "感谢您的耐心等待，已经办好了，再见。", 40.0, 43.0),
        ), {"agent_id": "A01", "domain": "hotline"}),
        Conversation("call-0002", (
            Turn(0, "agent", "喂？"),
            Turn(1, "customer", f"我要投诉！{SCRIPT}"),
            Turn(2, "agent", f"不知道，{SHIRK}，你自己去查。电话{PHONE}"),
        ), {"agent_id": "A02", "domain": "hotline"}),
        Conversation("call-0003", (
            Turn(0, "agent", "您好，欢迎致电。"),
            Turn(1, "customer", f"身份证号{ID_CARD}"),
            Turn(2, "agent", "好的，再见"),
        ), {"agent_id": "A01", "domain": "bank"}),
    ]


def _with_banned(sc: ConversationScore, conv: Conversation) -> ConversationScore:
    """Add a hand-made banned-phrase finding and a tone-model finding to call-0002."""
    t = conv.turns[2]
    start = t.text.index(SHIRK)
    ban = Finding("BAN-T01", "shirk", "banned", SHIRK, SHIRK, start, start + len(SHIRK),
                  turn=2, severity="major", suggestion="我帮您转给负责的同事处理",
                  basis="reception.greet_farewell", role="agent")
    tone = Finding("TONE-RUDE", "rude", "banned", "", t.text, 0, len(t.text), turn=2,
                   severity="major", source="classifier", score=0.91,
                   explanation="reply-tone classifier: P(rude) = 0.91", role="agent")
    rule = RuleResult("banned_phrases", False, 20.0,
                      (Evidence("banned phrase BAN-T01", 2, start, start + len(SHIRK), SHIRK,
                                code="BAN-T01"),),
                      title="杜绝服务忌语", basis="reception.polite_language",
                      message=f"1 banned phrase(s): {SHIRK}")
    results = tuple(rule if r.rule_id == "banned_phrases" else r for r in sc.rule_results)
    return dataclasses.replace(sc, findings=(*sc.findings, ban, tone), rule_results=results,
                               score=30.0, grade="不合格", vetoed=True)


@pytest.fixture(scope="module")
def pairs(analyzer: Analyzer) -> list[tuple[Conversation, ConversationScore]]:
    out = []
    for conv in _conversations():
        sc = analyzer.score(conv)
        if conv.id == "call-0002":
            sc = _with_banned(sc, conv)
        out.append((conv, sc))
    return out


ERRORS = [ReadError("calls/broken.json", 3, "truncated JSON"),
          ReadError(f"calls/{PHONE}.txt", None, "not UTF-8 text")]


class _Doc(HTMLParser):
    """Just enough of the DOM: rows of #conv-table, <mark>s, attributes, element ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.table: str | None = None
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.marks: list[tuple[str, str]] = []
        self.open_marks: list[tuple[str, list[str]]] = []  # nested marks: the open ones
        self.ids: set[str] = set()
        self.attrs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.turn_classes: dict[str, str] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
        if a.get("id"):
            self.ids.add(a["id"] or "")
            if tag == "div" and "t" in (a.get("class") or "").split():
                self.turn_classes[a["id"] or ""] = a.get("class") or ""
        if tag == "table":
            self.table = a.get("id")
        if self.table == "conv-table":
            if tag == "tr" and self.stack and self.stack[-1][0] == "tbody":
                self.rows.append([])
            if tag == "td":
                self.cell = []
        if tag == "mark":
            self.open_marks.append((a.get("class") or "", []))
        if tag not in ("br", "meta", "input", "line", "rect"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None and self.table == "conv-table":
            self.rows[-1].append("".join(self.cell))
            self.cell = None
        if tag == "mark" and self.open_marks:
            cls, parts = self.open_marks.pop()
            self.marks.append((cls, "".join(parts)))
        if tag == "table":
            self.table = None
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)
        for _, parts in self.open_marks:  # the text of a nested mark is its parents' too
            parts.append(data)


def _parse(path: Path) -> _Doc:
    doc = _Doc()
    doc.feed(path.read_text(encoding="utf-8"))
    doc.close()
    return doc


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory, analyzer: Analyzer,
                pairs: list[tuple[Conversation, ConversationScore]]) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    calls = []

    def records() -> Iterator[tuple[Conversation, ConversationScore]]:
        calls.append(1)
        return iter(pairs)

    write_html_report(path, records, errors=ERRORS, policy=analyzer.policy,
                      lexicon=analyzer.lexicon)
    assert len(calls) == 2  # streamed twice, never materialised by the writer
    return path


# ------------------------------------------------------------------------------ HTML


def test_html_conversation_table(html_report: Path) -> None:
    doc = _parse(html_report)
    # worst first: call-0002 scored 30
    assert [r[0] for r in doc.rows] == ["call-0002", "call-0001", "call-0003"]
    row = doc.rows[0]
    assert row[1] == "30" and row[2] == "不合格" and row[3] == "是"
    assert "杜绝服务忌语" in row[4]  # failed rules by their titles
    assert "A02" in row and "hotline" in row
    # every row links to a section that exists
    links = [v for tag, k, v in doc.attrs
             if tag == "a" and k == "href" and v[2:].isdigit() and v.startswith("#c")]
    assert links[:3] == ["#c1", "#c0", "#c2"]
    assert {"c0", "c1", "c2", "c1t2"} <= doc.ids


def test_html_marks_findings_in_place(html_report: Path, pairs: list[Any]) -> None:
    doc = _parse(html_report)
    assert ("ban", SHIRK) in doc.marks
    assert ("req", "您好") in doc.marks
    assert ("req", "再见") in doc.marks
    # every lexicon finding's exact text is marked
    marked = {text for _, text in doc.marks}
    for _, sc in pairs:
        for f in sc.findings:
            if f.source != "classifier":
                assert f.text in marked or any(f.text in m for m in marked), f
    # the tone-model finding outlines the whole turn instead
    assert "tone" in doc.turn_classes["c1t2"].split()
    assert "tone" not in doc.turn_classes["c1t0"].split()


def test_html_side_notes_explain(html_report: Path, analyzer: Analyzer) -> None:
    text = html_report.read_text(encoding="utf-8")
    basis = analyzer.lexicon.bases["reception.greet_farewell"]
    assert basis.text in text  # the clause itself, not only its id
    assert "我帮您转给负责的同事处理" in text  # suggested wording
    assert "BAN-T01" in text and "banned_phrases" in text
    assert '<span class="badge fail">未通过</span>' in text
    assert '<span class="badge pass">通过</span>' in text


def test_html_escapes_untrusted_text(html_report: Path) -> None:
    raw = html_report.read_text(encoding="utf-8")
    assert SCRIPT not in raw
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in raw
    doc = _parse(html_report)
    # only the report's own script, and two JSON data blocks (not run)
    assert doc.tags.count("script") == 3
    assert raw.count('<script type="application/json"') == 2
    assert SCRIPT in "".join(doc.text)  # shown as text


def test_html_templates_escape_by_default() -> None:
    """The page is built from the packaged templates, with autoescaping on: a value the
    writer did not mark as markup is shown as text, and template syntax in data stays data."""
    from markupsafe import Markup

    from phrasecheck.reports.html import _environment

    env = _environment()
    assert env.autoescape is True
    assert {"report.html", "conversation.html"} <= set(env.list_templates())
    page = env.from_string("<p title=\"{{ v }}\">{{ v }}{{ m }}</p>")
    assert page.render(v="<b>'{{ x }}'\"", m=Markup("<i>ok</i>")) == (
        "<p title=\"&lt;b&gt;&#x27;{{ x }}&#x27;&quot;\">&lt;b&gt;&#x27;{{ x }}&#x27;&quot;"
        "<i>ok</i></p>")


def test_html_is_self_contained(html_report: Path) -> None:
    raw = html_report.read_text(encoding="utf-8")
    assert "http://" not in raw and "https://" not in raw
    doc = _parse(html_report)
    assert "link" not in doc.tags and "img" not in doc.tags and "iframe" not in doc.tags
    for tag, key, value in doc.attrs:
        if key in ("src", "href"):
            assert value.startswith("#"), (tag, key, value)
    csp = [v for tag, k, v in doc.attrs if tag == "meta" and k == "content"
           and "default-src" in v]
    assert csp and "'none'" in csp[0] and "sha256-" in csp[0]


def test_html_redacts_by_default(html_report: Path) -> None:
    raw = html_report.read_text(encoding="utf-8")
    assert PHONE not in raw and ID_CARD not in raw
    assert PHONE_MASKED in raw
    assert "110105********002X" in raw
    assert f"calls/{PHONE_MASKED}.txt" in raw  # error paths too
    # masks keep length, so the mark after the number is still on the right characters
    assert ("ban", SHIRK) in _parse(html_report).marks


def test_html_overview_agents_errors(html_report: Path) -> None:
    raw = html_report.read_text(encoding="utf-8")
    doc = _parse(html_report)
    assert {"overview", "charts", "conversations", "agents", "errors", "details"} <= doc.ids
    assert raw.count("<svg") >= 2
    assert "truncated JSON" in raw and "calls/broken.json" in raw
    assert ">A01<" in raw and ">A02<" in raw
    assert 'data-ready' not in raw  # set by the script at run time, not in the file


def test_html_without_redaction(tmp_path: Path, pairs: list[Any]) -> None:
    path = tmp_path / "r.html"
    write_html_report(path, lambda: iter(pairs), redact=False)
    raw = path.read_text(encoding="utf-8")
    assert PHONE in raw and "未脱敏" in raw
    assert ("ban", SHIRK) in _parse(path).marks  # works without policy and lexicon


def test_html_sections_of_failed_only(tmp_path: Path, pairs: list[Any]) -> None:
    path = tmp_path / "r.html"
    write_html_report(path, lambda: iter(pairs), sections="failed")
    doc = _parse(path)
    assert len(doc.rows) == 3
    assert "c1" in doc.ids and "c0" not in doc.ids and "c2" not in doc.ids
    links = [v for tag, k, v in doc.attrs if tag == "a" and k == "href" and v[2:].isdigit()]
    assert links == ["#c1"]
    with pytest.raises(ValueError, match="sections"):
        write_html_report(path, lambda: iter(pairs), sections="some")  # type: ignore[arg-type]


def test_html_empty_and_errors_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    write_html_report(path, lambda: iter(()), errors=[{"path": "x.txt", "line": 2,
                                                       "reason": "empty file"}])
    raw = path.read_text(encoding="utf-8")
    assert "没有会话" in raw and "empty file" in raw and raw.rstrip().endswith("</html>")


def test_html_records_must_be_callable(tmp_path: Path, pairs: list[Any]) -> None:
    with pytest.raises(TypeError, match="zero-argument callable"):
        write_html_report(tmp_path / "r.html", iter(pairs))  # type: ignore[arg-type]


def test_html_records_must_repeat(tmp_path: Path, pairs: list[Any]) -> None:
    calls = []

    def records() -> Iterator[Any]:
        calls.append(1)
        return iter(pairs if len(calls) == 1 else pairs[::-1])

    path = tmp_path / "r.html"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError, match="same order"):
        write_html_report(path, records)
    assert path.read_text(encoding="utf-8") == "old"  # untouched: atomic
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left


def test_html_many_conversations_stay_compact(tmp_path: Path) -> None:
    n = 2000

    def records() -> Iterator[tuple[Conversation, ConversationScore]]:
        for i in range(n):
            text = f"您好，这是第{i}个会话，请稍等。"
            conv = Conversation(f"c{i:05d}", (Turn(0, "agent", text), Turn(1, "customer", "好")),
                                {"agent_id": f"A{i % 7}"})
            f = Finding("GRT-001", "greeting", "required", "您好", "您好", 0, 2, turn=0)
            yield conv, ConversationScore(conv.id, float(i % 101), "合格", i % 97 == 0,
                                          (RuleResult("greeting", True, 0.0),), (f,))

    path = tmp_path / "big.html"
    write_html_report(path, records)
    doc = _parse(path)
    assert len(doc.rows) == n
    assert doc.marks.count(("req", "您好")) == n
    assert path.stat().st_size / n < 2500  # bytes per small conversation, all included


# ------------------------------------------------------------------------------ Excel


def _frames(pairs: list[tuple[Conversation, ConversationScore]]
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    scores = pd.DataFrame([{
        "id": sc.id, "score": sc.score, "grade": sc.grade, "vetoed": sc.vetoed,
        "failed_rules": ",".join(r.rule_id for r in sc.rule_results if r.passed is False),
        "agent_id": conv.metadata.get("agent_id"),
    } for conv, sc in pairs])
    rows = []
    for conv, sc in pairs:
        texts = {t.index: t.text for t in conv.turns}
        for f in sc.findings:
            rows.append({"conversation_id": sc.id, "turn": f.turn, "start": f.start,
                         "end": f.end, "text": f.text, "turn_text": texts[f.turn or 0],
                         "code": f.code, "kind": f.kind, "source": f.source})
    findings = pd.DataFrame(rows)
    findings["turn"] = findings["turn"].astype("Int64")
    errors = pd.DataFrame([e.to_dict() for e in ERRORS])
    return scores, findings, errors


@pytest.fixture(scope="module")
def xlsx_report(tmp_path_factory: pytest.TempPathFactory,
                pairs: list[tuple[Conversation, ConversationScore]]) -> Path:
    path = tmp_path_factory.mktemp("xlsx") / "report.xlsx"
    scores, findings, errors = _frames(pairs)
    extra = pd.DataFrame([{"conversation_id": "x", "turn": 0, "start": 0, "end": 3,
                           "text": "=1+", "turn_text": "=1+1", "code": "X", "kind": "banned",
                           "source": "lexicon"}])
    findings = pd.concat([findings, extra], ignore_index=True)
    summary = {"policy": "default", "conversations": 3, "grades": {"优秀": 2, "不合格": 1}}
    write_xlsx_report(path, scores, findings, errors, summary)
    return path


def test_xlsx_sheets_headers_panes_filters(xlsx_report: Path) -> None:
    wb = openpyxl.load_workbook(xlsx_report)
    # Chinese by default: sheet names and headers a QA user reads
    assert wb.sheetnames == ["评分", "违规", "合规用语", "坐席", "读取错误", "汇总"]
    heads = {ws.title: [c.value for c in next(ws.iter_rows(max_row=1))] for ws in wb}
    assert heads["评分"][:4] == ["会话编号", "分数", "等级", "一票否决"]
    assert heads["违规"][:6] == ["会话编号", "轮次", "起", "止", "原文", "turn_text"]
    assert heads["违规"][-3:] == ["复核结论", "复核人", "备注"]
    assert heads["读取错误"][:3] == ["文件", "行", "原因"]
    for ws in wb:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}" \
                                     f"{ws.max_row}", ws.title
        assert all((ws.column_dimensions[c].width or 0) >= 6 for c in "AB")
    assert wb["评分"].max_row == 4
    # required phrases apart from the violations
    kinds = {ws: {r[heads[ws].index("类型")].value for r in wb[ws].iter_rows(min_row=2)}
             for ws in ("违规", "合规用语")}
    assert kinds == {"违规": {"服务忌语"}, "合规用语": {"规范用语"}}


def test_xlsx_in_english(tmp_path: Path, pairs: list[Any]) -> None:
    scores, findings, errors = _frames(pairs)
    path = tmp_path / "r.xlsx"
    write_xlsx_report(path, scores, findings, errors, {"policy": "default"}, lang="en")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Scores", "Violations", "Compliant hits", "Agents", "Errors",
                             "Summary"]
    assert [c.value for c in wb["Scores"][1]][:3] == ["Conversation", "Score", "Grade"]
    grades = [r[2].value for r in wb["Scores"].iter_rows(min_row=2)]
    assert set(grades) <= {"excellent", "pass", "fail"}
    with pytest.raises(ValueError, match="unknown language"):
        write_xlsx_report(path, scores, findings, errors, {}, lang="fr")


def test_xlsx_redacts_and_highlights(xlsx_report: Path) -> None:
    wb = openpyxl.load_workbook(xlsx_report, rich_text=True)
    values = [str(c.value) for ws in wb for row in ws.iter_rows() for c in row
              if c.value is not None]
    assert not any(PHONE in v or ID_CARD in v for v in values)
    assert any(PHONE_MASKED in v for v in values)
    assert any(f"calls/{PHONE_MASKED}.txt" == v for v in values)
    rows = list(wb["违规"].iter_rows(min_row=2))
    ban = next(r for r in rows if r[4].value == SHIRK)
    assert ban[4].fill.start_color.rgb.endswith("FFC7CE")  # red fill on the matched text
    rich = ban[5].value  # the turn text, with the match in coloured bold
    assert isinstance(rich, openpyxl.cell.rich_text.CellRichText)
    bold = [b for b in rich if not isinstance(b, str)]
    assert [b.text for b in bold] == [SHIRK] and bold[0].font.b
    assert PHONE_MASKED in str(rich)
    assert ban[5].alignment.wrap_text  # long text wraps
    req = next(r for r in wb["合规用语"].iter_rows(min_row=2) if r[4].value == "您好")
    assert req[4].fill.start_color.rgb.endswith("C6EFCE")


def test_xlsx_conditional_formats_and_review_column(xlsx_report: Path) -> None:
    wb = openpyxl.load_workbook(xlsx_report)
    ws = wb["评分"]
    rules = {str(rng.sqref): [r for r in rng.rules] for rng in ws.conditional_formatting}
    # low scores red by a conditional format, at the pass line (60 without a policy)
    score_rules = rules["B2:B4"]
    assert score_rules[0].operator == "lessThan" and score_rules[0].formula == ["60"]
    row_rule = next(r for ref, rs in rules.items() if ref.startswith("A2:") for r in rs)
    assert "B2<60" in row_rule.formula[0] and '"是"' in row_rule.formula[0]
    by_id = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    assert by_id["call-0002"][3].value == "是" and by_id["call-0001"][3].value == "否"
    # the verdict column offers 确认 / 误报 / 待定
    v = wb["违规"]
    (dv,) = v.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"确认,误报,待定"'
    col = [c.value for c in v[1]].index("复核结论")
    assert str(dv.sqref).startswith(f"{v.cell(1, col + 1).column_letter}2:")


def test_xlsx_pass_line_follows_policy_and_fail_under(tmp_path: Path, pairs: list[Any],
                                                      analyzer: Analyzer) -> None:
    scores, findings, errors = _frames(pairs)
    for fail_under, line in ((None, f"{analyzer.policy.grades[-2].min:g}"), (85.0, "85")):
        path = tmp_path / "r.xlsx"
        write_xlsx_report(path, scores, findings, errors, {}, policy=analyzer.policy,
                          fail_under=fail_under)
        ws = openpyxl.load_workbook(path)["评分"]
        rule = next(r for rng in ws.conditional_formatting if str(rng.sqref) == "B2:B4"
                    for r in rng.rules)
        assert rule.formula == [line]


def test_xlsx_failed_rows_and_formulas(xlsx_report: Path) -> None:
    wb = openpyxl.load_workbook(xlsx_report)
    f = wb["违规"]
    cell = next(r[5] for r in f.iter_rows(min_row=2) if r[0].value == "x")
    assert cell.value == "=1+1" and cell.data_type == "s"  # text, never a formula
    summary = {r[0].value: r[1].value for r in wb["汇总"].iter_rows(min_row=2)}
    assert summary["grades.优秀"] == 2 and summary["策略"] == "default"


def test_xlsx_without_redaction_and_summary_frame(tmp_path: Path, pairs: list[Any]) -> None:
    scores, findings, errors = _frames(pairs)
    path = tmp_path / "r.xlsx"
    write_xlsx_report(path, scores, findings, errors.iloc[:0],
                      pd.DataFrame({"metric": ["n"], "value": [3]}), redact=False)
    wb = openpyxl.load_workbook(path)
    values = [str(c.value) for ws in ("违规", "合规用语") for row in wb[ws].iter_rows()
              for c in row]
    assert any(PHONE in v for v in values)
    assert wb["读取错误"].max_row == 1 and wb["读取错误"].auto_filter.ref == "A1:D1"
    assert [c.value for c in wb["汇总"][1]] == ["指标", "值"]


def test_xlsx_long_and_illegal_text(tmp_path: Path) -> None:
    long = "长" * 40_000 + "\x00\x07"
    df = pd.DataFrame({"id": ["a"], "note": [long]})
    write_xlsx_report(tmp_path / "r.xlsx", df, df.iloc[:0], df.iloc[:0], {})
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    value = wb["评分"]["B2"].value
    assert len(value) == 32_767 and value.endswith("…")


# ------------------------------------------------------------------------------ atomic


def test_atomic_write_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with atomic_write(target) as fh:
        fh.write("new")
        assert target.read_text(encoding="utf-8") == "old"  # not yet
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_write_cleans_up_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_write(target, "wb") as fh:
        fh.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"), \
            atomic_write(tmp_path / "nope" / "x.txt"):
        pass


HIGHLIGHT = [
    ("您好", [], "您好"),
    ("您好，再见", [(0, 2, "req", "a"), (3, 5, "req", "b")],
     '<mark class="req" title="a">您好</mark>，<mark class="req" title="b">再见</mark>'),
    # nested: both exact texts marked
    ("abcdef", [(0, 6, "req", "a"), (2, 4, "ban", "b")],
     '<mark class="req" title="a">ab<mark class="ban" title="b">cd</mark>ef</mark>'),
    # same span twice: one mark, the stronger class, both titles
    ("abc", [(0, 3, "req", "a"), (0, 3, "ban", "b")], '<mark class="ban" title="a | b">abc</mark>'),
    # crossing: one mark over the union
    ("abcdef", [(0, 4, "req", "a"), (2, 6, "req", "b")],
     '<mark class="req" title="a | b">abcdef</mark>'),
    # escaping inside and around marks, and in titles
    ("<b>&", [(1, 2, "cue", 'x"<')], '&lt;<mark class="cue" title="x&quot;&lt;">b</mark>&gt;&amp;'),
]


@pytest.mark.parametrize(("text", "spans", "expected"), HIGHLIGHT)
def test_highlight_table(text: str, spans: list[tuple[int, int, str, str]], expected: str
                         ) -> None:
    from phrasecheck.reports.html import _highlight

    assert _highlight(text, spans) == expected


def test_html_marks_inferred_roles_and_low_confidence_turns(tmp_path: Path) -> None:
    """Undiarised calls (issue 13's metadata): a badge on a conversation whose roles were
    inferred, and the turns whose role is uncertain marked."""
    conv = Conversation("mono-1", (
        Turn(0, "agent", "您好，请讲"), Turn(1, "customer", "我想查社保"),
        Turn(2, "agent", "好的，请稍等")),
        {"layout": "mono", "role_inference": {"method": "cues", "confidence": 0.71},
         "role_confidence": [0.95, 0.41, 0.88]})
    given = Conversation("given-1", (Turn(0, "agent", "您好"),), {})
    pairs = [(c, ConversationScore(c.id, 100.0, "优秀", False, (), ())) for c in (conv, given)]
    path = tmp_path / "r.html"
    write_html_report(path, lambda: iter(pairs))
    raw = path.read_text(encoding="utf-8")
    assert raw.count('class="badge inf"') == 1 and "置信度 0.71" in raw
    doc = _parse(path)
    assert "lowconf" in doc.turn_classes["c0t1"].split()
    assert "lowconf" not in doc.turn_classes["c0t0"].split()
    assert "角色置信度 0.41" in raw
    write_html_report(path, lambda: iter(pairs), lang="en")
    assert "roles inferred" in path.read_text(encoding="utf-8")
