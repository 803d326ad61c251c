"""Scoring policies: files → validated :class:`Policy` objects.

A policy is a YAML (or TOML) file::

    version: 1
    name: hotline
    extends: default            # a preset name or a path; rules merge by id
    title: 12345 热线 / 呼叫中心
    start: 100                  # points a conversation starts with
    floor: 0                    # the score never goes below this
    grades:                     # first grade whose `min` the score reaches
      - {name: 优秀, min: 90}
      - {name: 合格, min: 60}
      - {name: 不合格, min: 0}
    settings: {hold_gap_seconds: 30}
    disable: [some_rule]        # drop inherited rules
    rules:
      - id: greeting
        kind: require           # require | forbid | classifier | context | all | any | none
        title: 来有迎声
        basis: reception.greet_farewell
        categories: [greeting, phone_answer]
        role: agent
        scope: {first: 2}       # {first: N} | {last: N} | anywhere
        deduction: 10

Rule kinds and their fields:

- ``require``: ``categories``, ``role``, ``scope``: at least one phrase of those categories in
  the scoped turns. Deducts once.
- ``forbid``: ``categories``, ``role``, optional ``severity_weights``: every hit deducts
  ``deduction`` × weight, up to ``cap``.
- ``classifier``: ``label`` (``rude``/``evasive``), ``threshold``, ``role``: every turn whose
  probability for the label reaches the threshold deducts, up to ``cap``.
- ``context``: ``trigger`` (``{event: complaint, threshold: P}``, ``{event: hold}`` or a
  lexicon trigger ``{categories: [...], role: customer}``) and ``expect`` (``{categories:
  [...], role: agent, window: after|before, within: K}``): after (or before) every trigger,
  one of the expected phrases within K turns of the role. A complaint event is a customer
  turn the complaint detector scores at ``threshold`` or more (:mod:`phrasecheck.complaints`);
  a hold needs an announcement and a silence of ``settings.hold_gap_seconds`` or a return, or
  a long unannounced silence (:mod:`phrasecheck.holds`). Each unmet trigger deducts, up to
  ``cap``.
- ``all`` / ``any`` / ``none``: ``conditions``, a list of rule specs (without deductions);
  passes when all / any / none of them pass. Deducts once.

Any rule may set ``veto: true`` (一票否决): when it fails, the conversation fails whatever its
points. Every rule should cite a ``basis`` id from the lexicon's bases.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from ._yaml import Located, YAMLProblem, load_located, plain
from .errors import ConfigIssue, PolicyError

#: Events a context rule can be triggered by.
TRIGGER_EVENTS = ("complaint", "hold")

__all__ = [
    "RULE_KINDS",
    "STABLE_RULE_IDS",
    "TRIGGER_EVENTS",
    "Grade",
    "Policy",
    "Rule",
    "available_policies",
    "load_policy",
]

RULE_KINDS = ("require", "forbid", "classifier", "context", "all", "any", "none")
STABLE_RULE_IDS = ("greeting", "closing", "banned_phrases", "rude_reply", "evasive_reply",
                   "apology_after_complaint", "wait_before_hold", "thanks_after_hold")
_COMMON = {"id", "kind", "title", "basis", "deduction", "per", "cap", "veto", "description",
           "enabled"}
_FIELDS = {
    "require": {"categories", "role", "scope"},
    "forbid": {"categories", "role", "severity_weights"},
    "classifier": {"label", "threshold", "role"},
    "context": {"trigger", "expect"},
    "all": {"conditions"},
    "any": {"conditions"},
    "none": {"conditions"},
}
_ROLES = ("agent", "customer", "system", "unknown", "any")
_POLICY_KEYS = {"version", "name", "title", "description", "extends", "start", "floor",
                "grades", "settings", "rules", "disable", "veto_score"}


@dataclass(frozen=True, slots=True)
class Grade:
    name: str
    min: float


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule. ``spec`` holds the kind-specific fields."""

    id: str
    kind: str
    title: str
    basis: str | None
    deduction: float
    per: str
    cap: float | None
    veto: bool
    spec: Mapping[str, Any] = field(hash=False)
    description: str = ""
    path: str = "<memory>"
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def categories(self) -> set[str]:
        """Every category the rule refers to (including nested conditions and contexts)."""
        return _categories_of(self.kind, self.spec)


def _categories_of(kind: str, spec: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    if kind in ("require", "forbid"):
        out.update(spec.get("categories", ()))
    elif kind == "context":
        out.update(spec["trigger"].get("categories", ()))
        out.update(spec["expect"].get("categories", ()))
    elif kind in ("all", "any", "none"):
        for c in spec.get("conditions", ()):
            out |= _categories_of(c["kind"], c)
    return out


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    title: str
    rules: tuple[Rule, ...]
    start: float = 100.0
    floor: float = 0.0
    grades: tuple[Grade, ...] = (Grade("优秀", 90), Grade("合格", 60), Grade("不合格", 0))
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    veto_score: float = 0.0
    description: str = ""
    sources: tuple[str, ...] = ()

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"unknown rule {rule_id!r} in policy {self.name!r} "
                       f"(rules: {', '.join(r.id for r in self.rules)})")

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def grade_for(self, score: float, vetoed: bool = False) -> str:
        if vetoed:
            return self.grades[-1].name
        for g in self.grades:
            if score >= g.min:
                return g.name
        return self.grades[-1].name

    def check_categories(self, known: Iterable[str]) -> list[ConfigIssue]:
        """Issues for rules that name categories the lexicon does not have."""
        known_set = set(known)
        issues = []
        for r in self.rules:
            for cat in sorted(r.categories() - known_set):
                issues.append(ConfigIssue(r.path, r.line, f"rule {r.id!r}: unknown category "
                                          f"{cat!r} (known: {', '.join(sorted(known_set))})"))
        return issues

    def check_bases(self, known: Iterable[str]) -> list[ConfigIssue]:
        known_set = set(known)
        return [ConfigIssue(r.path, r.line, f"rule {r.id!r}: unknown basis {r.basis!r}")
                for r in self.rules if r.basis is not None and r.basis not in known_set]


# ------------------------------------------------------------------------------- finding


def _preset_dir() -> Traversable:
    from importlib.resources import files

    return files("phrasecheck") / "presets"


def available_policies() -> list[str]:
    """Names of the policy presets shipped with phrasecheck."""
    return sorted(p.name.rsplit(".", 1)[0] for p in _preset_dir().iterdir()
                  if p.name.endswith(".yaml"))


def _locate(ref: str | os.PathLike[str], relative_to: str | None
            ) -> tuple[Traversable, bool]:
    """The policy file ``ref`` names, and whether it is a preset."""
    if isinstance(ref, str) and "/" not in ref and "\\" not in ref and not ref.endswith(
            (".yaml", ".yml", ".toml")):
        preset = _preset_dir() / f"{ref}.yaml"
        if preset.is_file():
            return preset, True
        raise PolicyError([ConfigIssue(
            "<policy>", None, f"unknown policy {ref!r} "
            f"(available: {', '.join(available_policies())}; "
            "or give a path to a .yaml/.toml file)")])
    path = Path(ref)
    if not path.is_absolute() and relative_to is not None:
        candidate = Path(relative_to).parent / path
        if candidate.exists():
            path = candidate
    if not path.is_file():
        raise PolicyError([ConfigIssue(str(path), None, "policy file not found")])
    return path, False


#: The largest policy file read (a policy is a page or two of YAML).
MAX_POLICY_BYTES = 1024 * 1024


def _read(res: Traversable) -> tuple[Located, str]:
    path = str(res)
    try:
        raw = res.read_bytes()
    except OSError as exc:
        raise PolicyError([ConfigIssue(path, None, f"cannot read: {exc.strerror or exc}")]
                          ) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError([ConfigIssue(path, None, f"{len(raw):,} bytes is too large for a "
                                       f"policy file (at most {MAX_POLICY_BYTES:,})")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PolicyError([ConfigIssue(path, line, f"not UTF-8 text ({exc.reason} at byte "
                                       f"{exc.start}); save the policy as UTF-8")]) from None
    if path.endswith(".toml"):
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef,unused-ignore]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError([ConfigIssue(path, getattr(exc, "lineno", None), str(exc))]
                              ) from None
        return _locate_plain(data), path
    try:
        doc = load_located(text, path)
    except YAMLProblem as exc:
        raise PolicyError([ConfigIssue(path, exc.line, exc.message)]) from None
    if not isinstance(doc, Located):
        raise PolicyError([ConfigIssue(path, 1, "a policy file must be a mapping")])
    return doc, path


def _locate_plain(data: Any) -> Any:
    """Wrap TOML data like YAML data (TOML keeps no line numbers)."""
    if isinstance(data, dict):
        return Located({k: _locate_plain(v) for k, v in data.items()}, 0)
    if isinstance(data, list):
        return [_locate_plain(v) for v in data]
    return data


# ------------------------------------------------------------------------------- loading


def load_policy(ref: str | os.PathLike[str] | Policy = "default") -> Policy:
    """Load a preset by name (``"hotline"``) or a policy file by path, with its parents.

    Raises :class:`~phrasecheck.errors.PolicyError` with every problem and its file:line.
    """
    if isinstance(ref, Policy):
        return ref
    issues: list[ConfigIssue] = []
    chain: list[tuple[Located, str]] = []
    seen: set[str] = set()
    current: str | os.PathLike[str] | None = ref
    relative_to: str | None = None
    # user files are checked against the schema, with the rules they define or override;
    # presets (and the rules a user file inherits untouched) by the tests
    user_files: set[str] = set()
    while current is not None:
        res, preset = _locate(current, relative_to)
        doc, path = _read(res)
        if path in seen:
            raise PolicyError([ConfigIssue(path, None, "policy extends itself (cycle)")])
        seen.add(path)
        if not preset:
            user_files.add(path)
            from ._policy_schema import check_document

            problems = check_document(doc, plain(doc), path)
            if problems:
                raise PolicyError(problems)
        chain.append((doc, path))
        parent = doc.value.get("extends")
        current = str(parent) if parent else None
        relative_to = path
    merged: dict[str, Any] = {}
    rules: dict[str, tuple[Located, str]] = {}
    for doc, path in reversed(chain):  # base first
        for key, line in doc.duplicate_keys:
            issues.append(ConfigIssue(path, line, f"duplicate key {key!r}"))
        for key in doc.value:
            if key not in _POLICY_KEYS:
                issues.append(ConfigIssue(path, doc.key_lines.get(key) or None,
                                          f"unknown key {key!r} (expected: "
                                          f"{', '.join(sorted(_POLICY_KEYS))})"))
        for key in ("name", "title", "description", "start", "floor", "veto_score"):
            if key in doc.value:
                merged[key] = plain(doc.value[key])
        if "grades" in doc.value:
            merged["grades"] = (doc.value["grades"], path, doc.key_lines.get("grades"))
        if "settings" in doc.value:
            merged.setdefault("settings", {}).update(plain(doc.value["settings"]) or {})
        for rid in doc.value.get("disable") or []:
            rules.pop(str(rid), None)
        raw_rules = doc.value.get("rules") or []
        if not isinstance(raw_rules, list):
            issues.append(ConfigIssue(path, doc.key_lines.get("rules"), "'rules' must be a list"))
            continue
        ids_here: dict[str, int] = {}
        for item in raw_rules:
            if not isinstance(item, Located) or "id" not in item.value:
                where = item.line if isinstance(item, Located) else doc.key_lines.get("rules")
                issues.append(ConfigIssue(path, where or None, "each rule needs an 'id'"))
                continue
            rid = str(item.value["id"])
            if rid in ids_here:
                issues.append(ConfigIssue(path, item.line, f"duplicate rule id {rid!r} "
                                                            f"(first at line {ids_here[rid]})"))
                continue
            ids_here[rid] = item.line
            if rid in rules:  # override: merge fields over the inherited rule
                base, _ = rules[rid]
                combined = Located(dict(base.value), item.line,
                                   {**base.key_lines, **item.key_lines})
                combined.value.update(item.value)
                rules[rid] = (combined, path)
            else:
                rules[rid] = (item, path)
    built = []
    for item, path in rules.values():
        if path in user_files:
            from ._policy_schema import check_rule

            problems = check_rule(item, plain(item), path)
            if problems:
                issues += problems
                continue
        rule = _rule(item, path, issues)
        if rule is not None and item.value.get("enabled", True):
            built.append(rule)
    grades = _grades(merged.get("grades"), issues)
    name = str(merged.get("name") or Path(str(chain[0][1])).stem)
    start = _number(merged.get("start", 100), chain[0][1], "start", issues)
    floor = _number(merged.get("floor", 0), chain[0][1], "floor", issues)
    if floor > start:
        # the file (and line) that set the later of the two
        setter, at = next(((p, d.key_lines.get("floor") or d.key_lines.get("start"))
                           for d, p in chain if "floor" in d.value or "start" in d.value),
                          (chain[0][1], None))
        issues.append(ConfigIssue(setter, at or None, f"'floor' ({floor:g}) is "
                                  f"above 'start' ({start:g}): no score could reach a grade "
                                  "above it"))
    if issues:
        raise PolicyError(issues)
    return Policy(
        name=name, title=str(merged.get("title", name)), rules=tuple(built),
        start=start, floor=floor, grades=grades, settings=merged.get("settings", {}),
        veto_score=float(merged.get("veto_score", 0)),
        description=str(merged.get("description", "")),
        sources=tuple(p for _, p in chain),
    )


def _number(value: Any, path: str, key: str, issues: list[ConfigIssue]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or (
            value in (float("inf"), float("-inf"))):
        issues.append(ConfigIssue(path, None, f"'{key}' must be a number, got {value!r}"))
        return 0.0
    return float(value)


def _grades(spec: Any, issues: list[ConfigIssue]) -> tuple[Grade, ...]:
    if spec is None:
        return (Grade("优秀", 90), Grade("合格", 60), Grade("不合格", 0))
    raw, path, line = spec
    if not isinstance(raw, list) or not raw:
        issues.append(ConfigIssue(path, line, "'grades' must be a non-empty list of "
                                              "{name, min}"))
        return (Grade("不合格", 0),)
    out = []
    for g in raw:
        gv = plain(g)
        if not isinstance(gv, dict) or "name" not in gv or not isinstance(gv.get("min"),
                                                                            (int, float)):
            issues.append(ConfigIssue(path, getattr(g, "line", line),
                                      f"grade must be {{name, min}}, got {gv!r}"))
            continue
        out.append(Grade(str(gv["name"]), float(gv["min"])))
    out.sort(key=lambda g: -g.min)
    return tuple(out)


def _rule(item: Located, path: str, issues: list[ConfigIssue]) -> Rule | None:
    v = plain(item)
    rid = str(v["id"])
    line = item.line or None
    before = len(issues)
    kind = v.get("kind")
    if kind not in RULE_KINDS:
        issues.append(ConfigIssue(path, item.key_lines.get("kind", line) or None,
                                  f"rule {rid!r}: unknown kind {kind!r} "
                                  f"(expected one of: {', '.join(RULE_KINDS)})"))
        return None
    allowed = _COMMON | _FIELDS[kind]
    for key in v:
        if key not in allowed:
            issues.append(ConfigIssue(path, item.key_lines.get(key, line) or None,
                                      f"rule {rid!r}: unknown field {key!r} for a {kind} rule "
                                      f"(expected: {', '.join(sorted(allowed))})"))
    spec = {k: val for k, val in v.items() if k in _FIELDS[kind]}
    _check_spec(rid, kind, spec, path, line, issues)
    deduction = v.get("deduction", 0)
    if isinstance(deduction, bool) or not isinstance(deduction, (int, float)) or deduction < 0:
        issues.append(ConfigIssue(path, item.key_lines.get("deduction", line) or None,
                                  f"rule {rid!r}: 'deduction' must be a number >= 0"))
        deduction = 0
    per_default = "occurrence" if kind in ("forbid", "classifier", "context") else "conversation"
    per = v.get("per", per_default)
    if per not in ("occurrence", "conversation"):
        issues.append(ConfigIssue(path, item.key_lines.get("per", line) or None,
                                  f"rule {rid!r}: 'per' must be 'occurrence' or 'conversation'"))
    cap = v.get("cap")
    if cap is not None and (not isinstance(cap, (int, float)) or cap < 0):
        issues.append(ConfigIssue(path, item.key_lines.get("cap", line) or None,
                                  f"rule {rid!r}: 'cap' must be a number >= 0"))
        cap = None
    if len(issues) > before:
        return None
    return Rule(id=rid, kind=kind, title=str(v.get("title", rid)),
                basis=None if v.get("basis") is None else str(v["basis"]),
                deduction=float(deduction), per=str(per),
                cap=None if cap is None else float(cap), veto=bool(v.get("veto", False)),
                spec=spec, description=str(v.get("description", "")), path=path, line=line)


def _check_spec(rid: str, kind: str, spec: dict[str, Any], path: str, line: int | None,
                issues: list[ConfigIssue]) -> None:
    def bad(msg: str) -> None:
        issues.append(ConfigIssue(path, line, f"rule {rid!r}: {msg}"))

    def cats(value: Any, what: str) -> None:
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            bad(f"{what} must be a non-empty list of category codes")

    def role(value: Any) -> None:
        if value is not None and value not in _ROLES:
            bad(f"unknown role {value!r} (expected one of: {', '.join(_ROLES)})")

    if kind in ("require", "forbid"):
        cats(spec.get("categories"), "'categories'")
        role(spec.get("role"))
    if kind == "require":
        scope = spec.get("scope", "anywhere")
        if scope != "anywhere" and not (
            isinstance(scope, dict) and len(scope) == 1 and next(iter(scope)) in ("first", "last")
            and isinstance(next(iter(scope.values())), int) and next(iter(scope.values())) > 0
        ):
            bad(f"'scope' must be anywhere, {{first: N}} or {{last: N}}, got {scope!r}")
    if kind == "forbid":
        w = spec.get("severity_weights")
        if w is not None and not (isinstance(w, dict) and all(
                isinstance(x, (int, float)) for x in w.values())):
            bad("'severity_weights' must map severities to numbers")
    if kind == "classifier":
        if spec.get("label") not in ("rude", "evasive", "ok"):
            bad(f"'label' must be rude or evasive, got {spec.get('label')!r}")
        th = spec.get("threshold", 0.5)
        if not isinstance(th, (int, float)) or not 0 <= th <= 1:
            bad(f"'threshold' must be between 0 and 1, got {th!r}")
        role(spec.get("role"))
    if kind == "context":
        trig, exp = spec.get("trigger"), spec.get("expect")
        if not isinstance(trig, dict) or not (("categories" in trig) ^ ("event" in trig)):
            bad("'trigger' needs either 'categories' or 'event: hold|complaint'")
        elif "event" in trig and trig["event"] not in TRIGGER_EVENTS:
            bad(f"unknown trigger event {trig['event']!r} (known: {', '.join(TRIGGER_EVENTS)})")
        elif "event" in trig:
            th = trig.get("threshold", 0.5)
            if isinstance(th, bool) or not isinstance(th, (int, float)) or not 0 <= th <= 1:
                bad(f"'trigger.threshold' must be between 0 and 1, got {th!r}")
            if trig["event"] == "complaint":
                role(trig.get("role"))
        elif "categories" in trig:
            cats(trig["categories"], "'trigger.categories'")
            role(trig.get("role"))
        if not isinstance(exp, dict):
            bad("'expect' must be a mapping with 'categories'")
        else:
            cats(exp.get("categories"), "'expect.categories'")
            role(exp.get("role"))
            if exp.get("window", "after") not in ("after", "before"):
                bad(f"'expect.window' must be after or before, got {exp.get('window')!r}")
            within = exp.get("within", 1)
            if not isinstance(within, int) or within < 1:
                bad(f"'expect.within' must be a whole number >= 1, got {within!r}")
    if kind in ("all", "any", "none"):
        conds = spec.get("conditions")
        if not isinstance(conds, list) or not conds:
            bad("'conditions' must be a non-empty list of rule specs")
            return
        for i, c in enumerate(conds):
            if not isinstance(c, dict) or c.get("kind") not in RULE_KINDS:
                bad(f"condition {i + 1} needs a 'kind' (one of: {', '.join(RULE_KINDS)})")
                continue
            _check_spec(f"{rid}.conditions[{i + 1}]", c["kind"],
                        {k: x for k, x in c.items() if k != "kind"}, path, line, issues)
