"""Lexicons: the file format, validation with file:line errors, and the packaged defaults.

A lexicon is a set of YAML files. A file may hold any of these top-level sections:

- ``categories:`` category codes with their kind (``required``, ``banned``, ``cue``);
- ``bases:`` the clauses of the service rules that entries cite;
- ``entries:`` phrases (see ``lexicons/README.md`` for every field);
- ``disable:`` codes of entries loaded earlier (e.g. defaults) to switch off.

Files load in order; later files may add categories, bases and entries, and an entry whose
``code`` is already loaded from an *earlier file* replaces it (so a team can change the
severity of a default entry). Every problem found is reported at once, each with its file and
line, in a :class:`~phrasecheck.errors.LexiconError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from ._yaml import Located, YAMLProblem, load_located
from .errors import ConfigIssue, LexiconError, PhrasecheckError
from .normalize import Normalizer
from .types import KINDS, SEVERITIES

__all__ = [
    "Basis",
    "Category",
    "Lexicon",
    "LexiconEntry",
    "default_lexicon_dir",
    "lint_lexicon",
    "load_lexicon",
]

BOUNDARIES = ("auto", "loose", "token")
ENTRY_FIELDS = ("code", "phrase", "category", "kind", "severity", "variants", "allow",
                "boundary", "suggestion", "basis", "note")
DEFAULT_SEVERITY = {"required": "info", "banned": "major", "cue": "info"}
#: The longest phrase or variant (lexicon phrases are words and short sentences; a
#: megabyte-long "phrase" once passed lint and crashed jieba's dictionary).
MAX_PHRASE_CHARS = 64
#: The longest allow-list entry (a phrase in the words around it).
MAX_ALLOW_CHARS = 128
#: The largest lexicon file read.
MAX_LEXICON_BYTES = 16 * 1024 * 1024
ROLE_OF_KIND = {"required": "agent", "banned": "agent"}


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    kind: str
    title: str = ""
    description: str = ""
    role: str = "agent"


@dataclass(frozen=True, slots=True)
class Basis:
    """A clause of the service rules."""

    id: str
    title: str
    text: str
    source: str = ""

    def __str__(self) -> str:
        return f"{self.title}（{self.source}）：{self.text}" if self.source else self.text


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    code: str
    phrase: str
    category: str
    kind: str
    severity: str = "info"
    variants: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    boundary: str = "auto"
    suggestion: str | None = None
    basis: str | None = None
    note: str | None = None
    path: str = "<memory>"
    line: int | None = None

    @property
    def forms(self) -> tuple[str, ...]:
        """The phrase and its variants."""
        return (self.phrase, *self.variants)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def needs_token_boundary(self, form: str) -> bool:
        if self.boundary == "token":
            return True
        return self.boundary == "auto" and len(form) <= 1


@dataclass(frozen=True)
class Lexicon:
    """A validated set of entries with their categories and bases. Immutable."""

    entries: tuple[LexiconEntry, ...]
    categories: Mapping[str, Category]
    bases: Mapping[str, Basis]
    sources: tuple[str, ...] = ()
    _by_code: dict[str, LexiconEntry] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_code.update({e.code: e for e in self.entries})

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LexiconEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        kinds = {k: sum(1 for e in self.entries if e.kind == k) for k in KINDS}
        counts = ", ".join(f"{k}={n}" for k, n in kinds.items() if n)
        return f"Lexicon({len(self.entries)} entries: {counts}; from {len(self.sources)} files)"

    def entry(self, code: str) -> LexiconEntry:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"no lexicon entry {code!r} ({len(self._by_code)} entries loaded)"
                           ) from None

    def by_category(self, category: str) -> tuple[LexiconEntry, ...]:
        if category not in self.categories:
            raise KeyError(f"unknown category {category!r} "
                           f"(known: {', '.join(sorted(self.categories))})")
        return tuple(e for e in self.entries if e.category == category)

    def categories_of_kind(self, kind: str) -> tuple[str, ...]:
        return tuple(c for c, cat in self.categories.items() if cat.kind == kind)

    def basis(self, basis_id: str | None) -> Basis | None:
        return None if basis_id is None else self.bases.get(basis_id)


# --------------------------------------------------------------------------- locating files


def default_lexicon_dir() -> Traversable:
    """The bundled lexicons: inside the installed package, or ``lexicons/`` of a checkout."""
    from importlib.resources import files

    packaged = files("phrasecheck") / "_data" / "lexicons"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "lexicons"
    if checkout.is_dir():
        return checkout
    raise PhrasecheckError(
        f"phrasecheck's default lexicons are missing: looked in {packaged} and {checkout}. "
        "Reinstall the package, or pass your own lexicon files."
    )


def _expand(paths: Iterable[str | os.PathLike[str] | Traversable]) -> list[Traversable]:
    out: list[Traversable] = []
    for p in paths:
        t: Traversable = Path(p) if isinstance(p, (str, os.PathLike)) else p
        if t.is_dir():
            out.extend(sorted((c for c in t.iterdir() if c.name.endswith((".yaml", ".yml"))),
                              key=lambda c: c.name))
        elif t.is_file():
            out.append(t)
        else:
            raise FileNotFoundError(f"lexicon path not found: {p}")
    return out


# --------------------------------------------------------------------------------- loading


class _Builder:
    def __init__(self, normalizer: Normalizer) -> None:
        self.norm = normalizer
        self.issues: list[ConfigIssue] = []
        self.categories: dict[str, Category] = {}
        self.bases: dict[str, Basis] = {}
        self.entries: dict[str, LexiconEntry] = {}
        self.code_file: dict[str, str] = {}
        self.disabled: set[str] = set()
        self.pending: list[tuple[Located, str, str | None]] = []
        self.sources: list[str] = []

    def issue(self, path: str, line: int | None, msg: str) -> None:
        self.issues.append(ConfigIssue(path, line, msg))

    def add_file(self, res: Traversable) -> None:
        path = _display(res)
        self.sources.append(path)
        try:
            raw = res.read_bytes()
        except OSError as exc:
            self.issue(path, None, f"cannot read: {exc.strerror or exc}")
            return
        if len(raw) > MAX_LEXICON_BYTES:
            self.issue(path, None, f"{len(raw):,} bytes is too large for a lexicon file (at "
                                   f"most {MAX_LEXICON_BYTES:,}; split it into several files)")
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.issue(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            return
        try:
            doc = load_located(text, path)
        except YAMLProblem as exc:
            self.issues.append(ConfigIssue(path, exc.line, exc.message))
            return
        if doc is None:
            self.issue(path, None, "empty file")
            return
        if not isinstance(doc, Located):
            self.issue(path, 1, "expected a mapping with 'entries:', 'categories:' or 'bases:'")
            return
        self._check_dupes(doc, path)
        known = {"version", "kind", "entries", "categories", "bases", "disable"}
        for key in doc.value:
            if key not in known:
                self.issue(path, doc.key_lines.get(key),
                           f"unknown section {key!r} (expected: {', '.join(sorted(known))})")
        version = doc.value.get("version", 1)
        if version != 1:
            self.issue(path, doc.key_lines.get("version"),
                       f"unsupported lexicon format version {version!r} (this phrasecheck reads 1)")
        file_kind = doc.value.get("kind")
        if file_kind is not None and file_kind not in KINDS:
            self.issue(path, doc.key_lines.get("kind"),
                       f"unknown kind {file_kind!r} (expected one of: {', '.join(KINDS)})")
            file_kind = None
        self._categories(doc, path)
        self._bases(doc, path)
        disable = doc.value.get("disable") or []
        if not isinstance(disable, list) or not all(isinstance(c, str | int) for c in disable):
            self.issue(path, doc.key_lines.get("disable"),
                       f"'disable' must be a list of entry codes, got {disable!r}")
            disable = []
        for code in disable:
            self.disabled.add(str(code))
        entries = doc.value.get("entries")
        if entries is None:
            return
        if not isinstance(entries, list):
            self.issue(path, doc.key_lines.get("entries"), "'entries' must be a list")
            return
        for item in entries:
            if not isinstance(item, Located):
                self.issue(path, doc.key_lines.get("entries"),
                           f"each entry must be a mapping, got {item!r}")
                continue
            self._check_dupes(item, path)
            self.pending.append((item, path, file_kind))

    def _check_dupes(self, loc: Located, path: str) -> None:
        for key, line in loc.duplicate_keys:
            self.issue(path, line, f"duplicate key {key!r} (first at line {loc.key_lines[key]})")

    def _categories(self, doc: Located, path: str) -> None:
        cats = doc.value.get("categories")
        if cats is None:
            return
        if not isinstance(cats, Located):
            self.issue(path, doc.key_lines.get("categories"), "'categories' must be a mapping")
            return
        for code, spec in cats.value.items():
            line = cats.key_lines.get(code)
            if not isinstance(spec, Located):
                self.issue(path, line, f"category {code!r} must be a mapping with a 'kind'")
                continue
            kind = spec.value.get("kind")
            if kind not in KINDS:
                self.issue(path, line, f"category {code!r}: unknown kind {kind!r} "
                                       f"(expected one of: {', '.join(KINDS)})")
                continue
            role = str(spec.value.get("role", ROLE_OF_KIND.get(kind, "agent")))
            self.categories[code] = Category(code, kind, str(spec.value.get("title", "")),
                                             str(spec.value.get("description", "")), role)

    def _bases(self, doc: Located, path: str) -> None:
        bases = doc.value.get("bases")
        if bases is None:
            return
        if not isinstance(bases, Located):
            self.issue(path, doc.key_lines.get("bases"), "'bases' must be a mapping")
            return
        for bid, spec in bases.value.items():
            line = bases.key_lines.get(bid)
            if not isinstance(spec, Located) or not spec.value.get("text"):
                self.issue(path, line, f"basis {bid!r} needs at least a 'text'")
                continue
            self.bases[bid] = Basis(bid, str(spec.value.get("title", bid)),
                                    str(spec.value["text"]), str(spec.value.get("source", "")))

    def resolve_entries(self) -> None:
        for item, path, file_kind in self.pending:
            entry = self._entry(item, path, file_kind)
            if entry is None:
                continue
            prev_file = self.code_file.get(entry.code)
            if prev_file == path:
                first = self.entries[entry.code]
                self.issue(path, item.line,
                           f"duplicate code {entry.code!r} (first at {first.where})")
                continue
            self.entries[entry.code] = entry  # a later file overrides an earlier one
            self.code_file[entry.code] = path
        for code in self.disabled:
            self.entries.pop(code, None)
        self._check_forms()

    def _entry(self, item: Located, path: str, file_kind: str | None) -> LexiconEntry | None:
        v = item.value
        line = item.line

        def at(key: str) -> int:
            return item.key_lines.get(key, line)

        ok = True
        for key in v:
            if key not in ENTRY_FIELDS:
                self.issue(path, at(key), f"unknown field {key!r} "
                                          f"(expected: {', '.join(ENTRY_FIELDS)})")
        code = v.get("code")
        if not code or not isinstance(code, (str, int)):
            self.issue(path, line, "entry has no 'code'")
            return None
        code = str(code)
        phrase = v.get("phrase")
        if not isinstance(phrase, str) or not phrase.strip():
            self.issue(path, at("phrase"), f"{code}: empty phrase")
            return None
        if len(phrase.strip()) > MAX_PHRASE_CHARS:
            self.issue(path, at("phrase"), f"{code}: phrase of {len(phrase.strip()):,} "
                                           f"characters (at most {MAX_PHRASE_CHARS})")
            return None
        category = v.get("category")
        cat = self.categories.get(str(category)) if category is not None else None
        if cat is None:
            known = ", ".join(sorted(self.categories)) or "none loaded"
            self.issue(path, at("category"), f"{code}: unknown category {category!r} "
                                             f"(known: {known})")
            ok = False
        kind = v.get("kind", file_kind or (cat.kind if cat else None))
        if kind not in KINDS:
            self.issue(path, at("kind") if "kind" in v else line,
                       f"{code}: unknown kind {kind!r} (expected one of: {', '.join(KINDS)})")
            ok = False
        elif cat is not None and cat.kind != kind:
            self.issue(path, at("category"), f"{code}: category {cat.code!r} is {cat.kind}, "
                                             f"but the entry is {kind}")
            ok = False
        severity = v.get("severity", DEFAULT_SEVERITY.get(str(kind), "info"))
        if severity not in SEVERITIES:
            self.issue(path, at("severity"), f"{code}: unknown severity {severity!r} "
                                             f"(expected one of: {', '.join(SEVERITIES)})")
            ok = False
        boundary = v.get("boundary", "auto")
        if boundary not in BOUNDARIES:
            self.issue(path, at("boundary"), f"{code}: unknown boundary {boundary!r} "
                                             f"(expected one of: {', '.join(BOUNDARIES)})")
            ok = False
        variants = self._str_list(v.get("variants"), path, at("variants"), code, "variants",
                                  MAX_PHRASE_CHARS)
        allow = self._str_list(v.get("allow"), path, at("allow"), code, "allow",
                               MAX_ALLOW_CHARS)
        if variants is None or allow is None:
            return None
        basis = v.get("basis")
        if basis is not None and str(basis) not in self.bases:
            self.issue(path, at("basis"), f"{code}: unknown basis {basis!r} "
                                          f"(known: {', '.join(sorted(self.bases)) or 'none'})")
            ok = False
        forms = [self.norm.fold_phrase(f) for f in (phrase, *variants)]
        for a in allow:
            folded = self.norm.fold_phrase(a)
            if not any(f and f in folded for f in forms):
                self.issue(path, at("allow"), f"{code}: allow entry {a!r} does not contain "
                                              f"the phrase {phrase!r} or any of its variants")
                ok = False
        if not ok:
            return None
        suggestion = v.get("suggestion")
        note = v.get("note")
        return LexiconEntry(
            code=code, phrase=phrase.strip(), category=str(category), kind=str(kind),
            severity=str(severity), variants=tuple(variants), allow=tuple(allow),
            boundary=str(boundary), suggestion=None if suggestion is None else str(suggestion),
            basis=None if basis is None else str(basis), note=None if note is None else str(note),
            path=path, line=line,
        )

    def _str_list(self, value: Any, path: str, line: int, code: str,
                  name: str, longest: int) -> list[str] | None:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.issue(path, line, f"{code}: '{name}' must be a list of strings")
            return None
        out = []
        for x in value:
            if not isinstance(x, (str, int)) or not str(x).strip():
                self.issue(path, line, f"{code}: empty or non-text item in '{name}': {x!r}")
                return None
            if len(str(x).strip()) > longest:
                self.issue(path, line, f"{code}: an item of '{name}' has "
                                       f"{len(str(x).strip()):,} characters (at most {longest})")
                return None
            out.append(str(x).strip())
        return out

    def _check_forms(self) -> None:
        # A surface form must be unique among the entries that apply to the same speaker
        # role: 说了多少遍了 may be a complaint cue from a customer and a banned phrase from
        # an agent, but not two agent entries at once.
        seen: dict[tuple[str, str], LexiconEntry] = {}
        for e in self.entries.values():
            cat = self.categories.get(e.category)
            role = cat.role if cat is not None else "agent"
            for form in e.forms:
                key = self.norm.fold_phrase(form)
                if not key:
                    self.issue(e.path, e.line, f"{e.code}: phrase {form!r} is empty once "
                                               "normalised")
                    continue
                first = seen.get((role, key))
                if first is None:
                    seen[(role, key)] = e
                    continue
                if first.code == e.code:
                    self.issue(e.path, e.line, f"{e.code}: variant {form!r} repeats the entry's "
                                               "own phrase or another variant")
                elif {first.kind, e.kind} == {"required", "banned"}:
                    req, ban = (first, e) if first.kind == "required" else (e, first)
                    self.issue(e.path, e.line, f"phrase {form!r} is both required ({req.code} "
                                               f"at {req.where}) and banned ({ban.code} at "
                                               f"{ban.where})")
                else:
                    self.issue(e.path, e.line, f"duplicate phrase {form!r} in {e.code} "
                                               f"(first in {first.code} at {first.where})")


def _display(res: Traversable) -> str:
    if isinstance(res, Path):
        try:
            return str(res.relative_to(Path.cwd()))
        except ValueError:
            return str(res)
    return str(res)


def _build(paths: Sequence[str | os.PathLike[str] | Traversable], defaults: bool,
           normalizer: Normalizer | None) -> _Builder:
    b = _Builder(normalizer or Normalizer())
    files = _expand(([default_lexicon_dir()] if defaults else []) + list(paths))
    if not files:
        raise LexiconError([ConfigIssue("<lexicon>", None, "no lexicon files given")])
    for f in files:
        b.add_file(f)
    b.resolve_entries()
    return b


def load_lexicon(
    *paths: str | os.PathLike[str] | Traversable,
    defaults: bool = True,
    normalizer: Normalizer | None = None,
) -> Lexicon:
    """Load and validate lexicon files (and, unless ``defaults=False``, the bundled ones first).

    A directory loads every ``*.yaml`` in it, in name order. Raises
    :class:`~phrasecheck.errors.LexiconError` listing every problem with its file and line.
    """
    b = _build(paths, defaults, normalizer)
    if b.issues:
        raise LexiconError(b.issues)
    return Lexicon(tuple(b.entries.values()), dict(b.categories), dict(b.bases),
                   tuple(b.sources))


def lint_lexicon(
    *paths: str | os.PathLike[str] | Traversable, defaults: bool | None = None
) -> list[ConfigIssue]:
    """Validate lexicon files and return every problem (empty list: all good).

    With no paths, lints the bundled defaults. Files that define no categories of their own
    are linted on top of the defaults (so they can cite default categories and bases), unless
    ``defaults=False``.
    """
    try:
        if not paths:
            return _build((), True, None).issues
        if defaults is None:
            alone = _build(paths, False, None)
            if alone.categories:  # the files are a complete lexicon of their own
                return alone.issues
            defaults = True
        return _build(paths, defaults, None).issues
    except FileNotFoundError as exc:
        return [ConfigIssue(str(exc).rsplit(": ", 1)[-1], None, "no such file or directory")]
