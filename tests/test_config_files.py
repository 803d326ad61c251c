"""User policy and lexicon files: every hostile one is a clear error with file:line, exit 2,
in bounded time (issue 14, item 6). The files are in tests/data/hostile/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phrasecheck.cli import app
from phrasecheck.errors import LexiconError, PolicyError

HOSTILE = Path(__file__).parent / "data" / "hostile"
DEMO = Path(__file__).resolve().parents[1] / "corpora" / "demo"

# file -> (line of the first problem, words of its message)
POLICIES = {
    "alias_bomb.yaml": (4, "expands to more than 200,000 values"),
    "recursive_alias.yaml": (3, "an alias refers to the value that contains it"),
    "python_tag.yaml": (3, "unknown tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    "unknown_tag.yaml": (3, "could not determine a constructor for the tag '!custom'"),
    "gbk_text.yaml": (3, "not UTF-8 text"),
    "disable_number.yaml": (3, "disable: Input should be a valid list, got 5"),
    "disable_string.yaml": (3, "disable: Input should be a valid list, got 'greeting'"),
    "hold_gap_word.yaml": (4, "settings.hold_gap_seconds: Input should be a valid number"),
    "syntax_error.yaml": (6, "invalid YAML"),
    "start_nan.yaml": (3, "start: Input should be a finite number"),
    "deduction_nan.yaml": (5, "rule 'greeting': deduction: Input should be a finite number"),
    "deduction_inf.yaml": (5, "rule 'closing': deduction: Input should be a finite number"),
    "floor_above_start.yaml": (4, "'floor' (150) is above 'start' (100)"),
    "version_2.yaml": (1, "version: Input should be 1, got 2"),
    "unknown_kind.yaml": (5, "rule 'greeting': kind: Input tag 'requir'"),
    "scope_zero.yaml": (5, "scope: Value error, must be anywhere, {first: N} or {last: N}"),
    "grade_inf.yaml": (4, "grades[0].min: Input should be a finite number"),
    "complex_key.yaml": (3, "a key must be a plain value"),
    "deep_nesting.yaml": (3, "nested"),
    "within_zero.yaml": (5, "expect.within: Input should be greater than or equal to 1"),
    "threshold_high.yaml": (5, "threshold: Input should be less than or equal to 1"),
    "rules_mapping.yaml": (3, "rules: Input should be a valid list"),
    "not_a_mapping.yaml": (1, "a policy file must be a mapping"),
}


def test_every_hostile_policy_file_is_in_the_table() -> None:
    assert sorted(p.name for p in (HOSTILE / "policy").iterdir()) == sorted(POLICIES)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_hostile_policy_is_a_clear_error(name: str) -> None:
    from phrasecheck.policy import load_policy

    line, words = POLICIES[name]
    path = HOSTILE / "policy" / name
    started = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert time.perf_counter() - started < 5
    first = info.value.issues[0]
    assert first.path == str(path) and first.line == line, str(info.value)
    assert words in first.message, str(info.value)


@pytest.mark.parametrize("name", ["alias_bomb.yaml", "gbk_text.yaml", "disable_string.yaml",
                                  "syntax_error.yaml"])
def test_hostile_policy_exits_2_from_the_cli(tmp_path: Path, name: str) -> None:
    result = CliRunner().invoke(app, ["score", str(DEMO), "--policy",
                                      str(HOSTILE / "policy" / name), "--out", str(tmp_path),
                                      "--model", "none", "--quiet"])
    assert result.exit_code == 2 and f"{name}:" in result.output, result.output
    assert "Traceback" not in result.output


def test_presets_pass_the_schema() -> None:
    """Presets are loaded without pydantic (cold start); the schema checks them here."""
    from phrasecheck._policy_schema import check_document, check_rule
    from phrasecheck._yaml import Located, load_located, plain
    from phrasecheck.policy import _preset_dir, available_policies

    for name in available_policies():
        res = _preset_dir() / f"{name}.yaml"
        doc = load_located(res.read_text(encoding="utf-8"), name)
        assert check_document(doc, plain(doc), name) == []
        for item in doc.value.get("rules") or []:
            assert isinstance(item, Located)
            if "kind" in item.value:  # whole rules; overrides are checked once merged
                assert check_rule(item, plain(item), name) == [], name


def test_user_override_is_checked_once_merged(tmp_path: Path) -> None:
    from phrasecheck.policy import load_policy

    p = tmp_path / "ours.yaml"
    p.write_text("version: 1\nextends: hotline\nrules:\n  - id: banned_phrases\n"
                 "    deduction: 20\n", encoding="utf-8")
    assert load_policy(p).rule("banned_phrases").deduction == 20
    p.write_text("version: 1\nextends: hotline\nrules:\n  - id: banned_phrases\n"
                 "    deduction: -1\n    severity_weights: {major: x}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(p)
    assert [(i.line, i.message.split(":")[1].strip()) for i in info.value.issues] == [
        (5, "deduction"), (6, "severity_weights.major")]


LEXICONS = {
    "alias_bomb.yaml": (4, "expands to more than 200,000 values"),
    "gbk_text.yaml": (None, "not UTF-8 text"),
    "disable_string.yaml": (3, "'disable' must be a list of entry codes"),
    "syntax_error.yaml": (5, "invalid YAML"),
    "python_tag.yaml": (4, "could not determine a constructor"),
}


@pytest.mark.parametrize("name", sorted(LEXICONS))
def test_hostile_lexicon_is_a_clear_error(name: str) -> None:
    from phrasecheck.lexicon import lint_lexicon, load_lexicon

    line, words = LEXICONS[name]
    path = HOSTILE / "lexicon" / name
    with pytest.raises(LexiconError) as info:
        load_lexicon(path, defaults=False)
    first = info.value.issues[0]
    assert first.line == line and words in first.message, str(info.value)
    assert lint_lexicon(path)  # lint reports it too


def test_a_megabyte_phrase_fails_lint_instead_of_crashing_jieba(tmp_path: Path) -> None:
    from phrasecheck.lexicon import lint_lexicon

    p = tmp_path / "big.yaml"
    p.write_text("version: 1\ncategories: {x: {kind: banned}}\nentries:\n"
                 f"  - {{code: A, phrase: {'好' * 1_000_000}, category: x}}\n",
                 encoding="utf-8")
    (issue,) = lint_lexicon(p)
    assert issue.line == 4 and "phrase of 1,000,000 characters (at most 64)" in issue.message
    result = CliRunner().invoke(app, ["check", "您好", "--lexicon", str(p)])
    assert result.exit_code == 2 and "at most 64" in result.output
