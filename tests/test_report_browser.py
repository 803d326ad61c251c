"""Open report.html in headless Chromium: it renders, its script runs, nothing errors.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``; add ``fonts-noto-cjk``
for Chinese glyphs in screenshots). Skipped when no Chromium is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrasecheck.reports import write_html_report
from phrasecheck.types import (
    Conversation,
    ConversationScore,
    Evidence,
    Finding,
    ReadError,
    RuleResult,
    Turn,
)


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install -y chromium)")

BANNED = "这不归我管"


def _records() -> Iterator[tuple[Conversation, ConversationScore]]:
    for i in range(25):
        agent = (f"您好，请稍等。{BANNED}，你去别处问。" if i % 5 == 0
                 else "您好，请稍等，马上为您办理。")
        conv = Conversation(f"call-{i:03d}", (
            Turn(0, "agent", agent, 0.0, 3.0, "坐席"),
            Turn(1, "customer", "好的<script>console.error('injected')</script> 13812345678",
                 3.5, 6.0),
        ), {"agent_id": f"A{i % 3}", "domain": "hotline"})
        findings = [Finding("GRT-001", "greeting", "required", "您好", "您好", 0, 2, turn=0)]
        results = [RuleResult("greeting", True, 0.0, (Evidence("greeting", 0, 0, 2, "您好"),),
                              title="开场问候")]
        score = 100.0
        if i % 5 == 0:
            s = agent.index(BANNED)
            findings.append(Finding("BAN-T01", "shirk", "banned", BANNED, BANNED, s,
                                    s + len(BANNED), turn=0, severity="major",
                                    suggestion="我帮您转给负责的同事"))
            results.append(RuleResult("banned_phrases", False, 20.0,
                                      (Evidence("banned", 0, s, s + len(BANNED), BANNED),),
                                      title="杜绝服务忌语", message="1 banned phrase"))
            score = 80.0 - i
        yield conv, ConversationScore(conv.id, score, "合格" if score >= 60 else "不合格",
                                      False, tuple(results), tuple(findings))


def _run(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", *args]
    env = {**os.environ, "HOME": str(tmp_path)}  # keep chromium's caches out of the user's home
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env,
                          check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "report.html"
    write_html_report(path, _records, errors=[ReadError("bad.json", 2, "truncated JSON")])
    return path


def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    proc = _run(CHROMIUM, tmp_path, "--dump-dom", report.as_uri() + "#c5")
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the script ran to its end ...
    assert re.search(r'<body[^>]*data-ready="1"', dom), dom[:500]
    # ... and opened the conversation named in the URL
    assert re.search(r'<details id="c5" [^>]*open=""', dom)
    # the conversation table with all its rows
    body = dom.split('id="conv-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == 25
    assert 'href="#c0">call-000</a>' in body
    # a finding highlighted in place, and PII masked
    assert re.search(rf'<mark class="ban"[^>]*>{BANNED}</mark>', dom)
    assert "138****5678" in dom and "13812345678" not in dom
    # no console errors, no uncaught exceptions, no CSP violation, no network
    log = proc.stderr
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln
               or "Content Security Policy" in ln or "Refused to" in ln]
    assert console == [], console
    assert "injected" not in log


def test_screenshot(report: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    png = tmp_path / "report.png"
    proc = _run(CHROMIUM, tmp_path, f"--screenshot={png}", "--window-size=1400,2000",
                report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.stat().st_size > 10_000


PROBE = """<script>
(function () {
  var heads = document.querySelectorAll("#conv-table th");
  heads[1].click();  // score: listed worst first (ascending), so descending
  var first = function () { return document.querySelector("#conv-table tbody tr td").textContent; };
  var desc = first();
  heads[1].click();  // ascending again
  var asc = first();
  var input = document.getElementById("filter");
  input.value = "A1";
  document.getElementById("only-failed").dispatchEvent(new Event("change"));
  var shown = document.querySelectorAll("#conv-table tbody tr:not([hidden])").length;
  document.body.dataset.probe = [asc, desc, shown, document.getElementById("count").textContent]
    .join("|");
})();
</script></body>"""


def test_sort_and_filter_in_chromium(report: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    # the report's CSP lets only its own script run; drop it so the probe can click around
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                  report.read_text(encoding="utf-8"))
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", PROBE), encoding="utf-8")
    proc = _run(CHROMIUM, tmp_path, "--dump-dom", probe.as_uri())
    m = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert m, proc.stderr[-2000:]
    asc, desc, shown, count = m.group(1).split("|")
    assert (asc, desc) == ("call-020", "call-001")
    assert shown == "8" and "匹配 8" in count and "共 25" in count


# ------------------------------------------------------------------------ review loop
# Chromium driven by Playwright (pip `playwright`, in the test extra) with the Debian
# browser: `playwright install` would download its own build, which this needs none of.

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def _rows(path: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_review_in_the_browser_then_apply(tmp_path: Path) -> None:
    """A reviewer opens report.html from file://, marks a banned phrase 误报, exports the
    verdicts; `phrasecheck review apply` merges them and the score goes up."""
    from playwright.sync_api import sync_playwright
    from typer.testing import CliRunner

    from phrasecheck.cli import app

    assert CHROMIUM is not None
    demo = Path(__file__).resolve().parents[1] / "corpora" / "demo"
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(demo), "--out", str(out), "-q", "-j", "1",
                              "--format", "csv,html"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    before = _rows(out / "scores.csv")

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "report.html").as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'")
            page.fill("#rv-reviewer", "质检员-07")
            page.dispatch_event("#rv-reviewer", "change")
            # the worst conversation (not vetoed) with a banned lexicon phrase that deducts
            cid, at = page.evaluate("""() => {
              for (const li of document.querySelectorAll("details.conv li.ban")) {
                const d = li.closest("details");
                if (!d.querySelector("summary .badge.veto-mark") &&
                    li.dataset.rules.split(",").includes("banned_phrases") &&
                    !d.querySelector("summary").textContent.includes("一票否决"))
                  return [d.dataset.cid, li.dataset.at];
              }
            }""")
            details = page.locator(f'details.conv[data-cid="{cid}"]')
            item = details.locator(f'li.ban[data-at="{at}"]').first
            details.locator("summary").click()
            button = item.locator("button.rv-false_positive")
            button.click()
            assert button.get_attribute("aria-pressed") == "true"
            item.locator(".rv input").fill("方言，不是忌语")
            item.locator(".rv input").dispatch_event("change")
            assert "1 / " in page.inner_text("#rv-count")
            # filter by review state: only the reviewed conversation stays
            page.select_option("#rv-filter", "false_positive")
            visible = page.eval_on_selector_all(
                "details.conv", "ds => ds.filter(d => !d.hidden).map(d => d.dataset.cid)")
            assert visible == [cid]
            # the mark survives a reload (kept in the browser)
            page.reload()
            page.wait_for_function("document.body.dataset.ready === '1'")
            assert "1 / " in page.inner_text("#rv-count")
            with page.expect_download() as info:
                page.click("#rv-json")
            exported = tmp_path / "verdicts.json"
            info.value.save_as(exported)
            with page.expect_download() as info:
                page.click("#rv-csv")
            info.value.save_as(tmp_path / "verdicts.csv")
        finally:
            browser.close()
    assert errors == []

    doc = json.loads(exported.read_text(encoding="utf-8"))
    (v,) = doc["verdicts"]
    assert (v["conversation_id"], v["verdict"], v["reviewer"], v["comment"]) == (
        cid, "false_positive", "质检员-07", "方言，不是忌语")
    assert v["text"] and v["text"] in v["context"] and v["time"]
    assert (tmp_path / "verdicts.csv").read_text(encoding="utf-8-sig").count("\n") == 2

    res = runner.invoke(app, ["review", "apply", str(exported), "--scores", str(out)],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    after = _rows(out / "scores.csv")
    assert float(after[cid]["score"]) > float(before[cid]["score"])
    assert {k: r["score"] for k, r in after.items() if k != cid} == {
        k: r["score"] for k, r in before.items() if k != cid}
    # the report written again starts from the merged verdict
    assert '"w": "质检员-07"' in (out / "report.html").read_text(encoding="utf-8")
