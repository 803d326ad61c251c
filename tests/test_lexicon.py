"""Lexicon loading and validation: every problem named with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from phrasecheck.errors import LexiconError
from phrasecheck.lexicon import default_lexicon_dir, lint_lexicon, load_lexicon

HEAD = "version: 1\nentries:\n"

BAD = [
    # (entries yaml, expected line, expected message fragment)
    ("  - {code: A1, phrase: 您好, category: greeting, kind: required}\n"
     "  - {code: A2, phrase: 您好, category: greeting, kind: required}\n",
     4, "duplicate phrase '您好' in A2 (first in A1"),
    ("  - {code: A1, phrase: 您好, category: greeting, kind: required}\n"
     "  - {code: A1, phrase: 你们好, category: greeting, kind: required}\n",
     4, "duplicate code 'A1'"),
    ("  - {code: A1, phrase: 您好, category: greetings, kind: required}\n",
     3, "unknown category 'greetings' (known:"),
    ("  - {code: A1, phrase: '', category: greeting, kind: required}\n",
     3, "A1: empty phrase"),
    ("  - {code: A1, phrase: '  ', category: greeting, kind: required}\n",
     3, "A1: empty phrase"),
    ("  - {code: A1, phrase: 好烦, category: greeting, kind: required}\n"
     "  - {code: B1, phrase: 好烦, category: rude, kind: banned}\n",
     4, "phrase '好烦' is both required (A1"),
    ("  - {code: B1, phrase: 滚, category: rude, kind: banned, allow: [滑动]}\n",
     3, "allow entry '滑动' does not contain the phrase '滚'"),
    ("  - {code: B1, phrase: 滚, category: rude, kind: banned, basis: nope}\n",
     3, "unknown basis 'nope'"),
    ("  - {code: B1, phrase: 滚, category: rude, kind: banned, severity: huge}\n",
     3, "unknown severity 'huge'"),
    ("  - {code: B1, phrase: 滚, category: rude, kind: banned, boundary: word}\n",
     3, "unknown boundary 'word'"),
    ("  - {code: B1, phrase: 滚, category: greeting, kind: banned}\n",
     3, "category 'greeting' is required, but the entry is banned"),
    ("  - {code: B1, phrase: 滚, category: rude, kind: banned, varients: [x]}\n",
     3, "unknown field 'varients'"),
    ("  - {phrase: 滚, category: rude, kind: banned}\n",
     3, "entry has no 'code'"),
    ("  - {code: B1, phrase: 滚蛋, category: rude, kind: banned, variants: [滚蛋]}\n",
     3, "variant '滚蛋' repeats"),
    ("  - {code: B1, phrase: 滚蛋, category: rude, kind: banned}\n"
     "  - {code: B2, phrase: 滾蛋, category: rude, kind: banned}\n",  # traditional duplicate
     4, "duplicate phrase '滾蛋'"),
    ("  - code: B1\n    phrase: 滚蛋\n    phrase: 滚开\n    category: rude\n    kind: banned\n",
     5, "duplicate key 'phrase'"),
    ("  - {code: B1, phrase: 滚蛋, category: rude, kind: banned, variants: [[x]]}\n",
     3, "empty or non-text item in 'variants'"),
]


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "mine.yaml"
    p.write_text(HEAD + body, encoding="utf-8")
    return p


@pytest.mark.parametrize(("body", "line", "message"), BAD, ids=[b[2][:30] for b in BAD])
def test_invalid_entries(tmp_path: Path, body: str, line: int, message: str) -> None:
    p = _write(tmp_path, body)
    base = default_lexicon_dir()
    with pytest.raises(LexiconError) as info:
        load_lexicon(base / "categories.yaml", base / "bases.yaml", p, defaults=False)
    issues = [i for i in info.value.issues if i.path.endswith("mine.yaml")]
    assert any(i.line == line and message in i.message for i in issues), issues
    assert f"mine.yaml:{line}:" in str(info.value)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("version: 1\nentries:\n  - {code: A1, phrase: [unclosed\n", encoding="utf-8")
    issues = lint_lexicon(p)
    assert issues and "invalid YAML" in issues[0].message


def test_missing_path() -> None:
    issues = lint_lexicon(Path("/nonexistent/lexicon.yaml"))
    assert issues and "no such file" in issues[0].message


def test_bundled_lexicons_lint_clean() -> None:
    assert lint_lexicon() == []


def test_cli_lint_on_defaults() -> None:
    from typer.testing import CliRunner

    from phrasecheck.cli import app

    result = CliRunner().invoke(app, ["lexicon", "lint"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_cli_lint_reports_problems(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from phrasecheck.cli import app

    p = _write(tmp_path, "  - {code: A1, phrase: 您好, category: nope, kind: required}\n")
    result = CliRunner().invoke(app, ["lexicon", "lint", str(p)])
    assert result.exit_code == 1
    assert "mine.yaml:3:" in result.output and "unknown category 'nope'" in result.output


def test_user_lexicon_adds_to_defaults(tmp_path: Path) -> None:
    p = _write(tmp_path, "  - {code: MY-001, phrase: 靓仔, category: greeting, kind: required}\n")
    lex = load_lexicon(p)
    assert lex.entry("MY-001").phrase == "靓仔"
    assert len(lex) > 100  # defaults still there


def test_user_lexicon_can_replace_and_disable_defaults(tmp_path: Path) -> None:
    default = load_lexicon()
    first = default.entries[0]
    p = tmp_path / "override.yaml"
    p.write_text(textwrap.dedent(f"""\
        version: 1
        disable: [{default.entries[1].code}]
        entries:
          - {{code: {first.code}, phrase: {first.phrase}, category: {first.category},
              kind: {first.kind}, severity: critical}}
        """), encoding="utf-8")
    lex = load_lexicon(p)
    assert lex.entry(first.code).severity == "critical"
    with pytest.raises(KeyError):
        lex.entry(default.entries[1].code)


def test_lexicon_instead_of_defaults(test_lexicon) -> None:  # type: ignore[no-untyped-def]
    assert {e.code for e in test_lexicon} >= {"T-GRT", "T-STW"}
    assert len(test_lexicon) == 15


def test_bundled_lexicon_sizes() -> None:
    lex = load_lexicon()
    required = [e for e in lex if e.kind == "required"]
    assert len(required) >= 150
    for cat in ("greeting", "request", "thanks", "apology", "wait", "wait_thanks", "closing",
                "phone_answer", "empathy"):
        assert lex.by_category(cat), cat
    banned = [e for e in lex if e.kind == "banned"]
    if not banned:
        pytest.skip("banned.yaml not present yet")
    assert len(banned) >= 300
    assert all(e.suggestion for e in banned if e.category != "profanity")
    assert all(e.basis in lex.bases for e in lex if e.basis)


def test_stable_category_codes() -> None:
    lex = load_lexicon()
    for code in ("greeting", "request", "thanks", "apology", "wait", "wait_thanks", "closing",
                 "phone_answer", "empathy", "rude", "arrogant", "deflect", "stonewall",
                 "refuse", "profanity", "threat"):
        assert code in lex.categories
