"""YAML loading that remembers line numbers, for errors that point at the right line.

Policy and lexicon files come from users, so loading is bounded: a document may expand to
at most :data:`MAX_NODES` nodes (an alias bomb, the "billion laughs", expands to billions)
and nest :data:`MAX_DEPTH` deep; an alias that refers to itself, a tag PyYAML's safe loader
does not know and a key that is not a plain value are errors with their line, never a
traceback.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from ._cache import write_atomic

__all__ = ["MAX_DEPTH", "MAX_NODES", "Located", "YAMLProblem", "load_located"]

#: The most nodes a document may expand to, aliases counted each time they are used.
MAX_NODES = 200_000
#: The deepest nesting of mappings and lists.
MAX_DEPTH = 64


_PLAIN_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
_CACHE_MIN_CHARS = 4096  # smaller files parse in well under a millisecond: not kept


class YAMLProblem(ValueError):
    """A YAML file that cannot be loaded: ``line`` (1-based, or None) and ``message``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


@dataclass
class Located:
    """A YAML mapping as a dict, with the 1-based line of the mapping and of each key."""

    value: dict[str, Any]
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)


def load_located(text: str, path: str) -> Any:
    """Parse YAML; every mapping becomes a :class:`Located`. Raises :class:`YAMLProblem`
    (a ``ValueError``) with the line of a syntax error or of what cannot be loaded.

    What a text of some size parses to is kept in the user cache
    (:mod:`phrasecheck._cache`, as JSON, keyed by the text's SHA-256): the lexicons are
    parsed once, not at every start (~0.04 s). Only a text that loaded is kept, so its
    problems are reported every time."""
    import hashlib

    from ._cache import cache_dir, key_of

    root = cache_dir() if len(text) >= _CACHE_MIN_CHARS else None
    cached = None
    if root is not None:
        key = key_of("yaml-located", hashlib.sha256(text.encode("utf-8", "surrogatepass"))
                     .hexdigest())
        cached = root / f"yaml-{key}.json"
        try:
            with open(cached, encoding="utf-8") as fh:
                return _decode(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or damaged: parse
    doc = _parse(text, path)
    if cached is not None:
        try:
            data = json.dumps(_encode(doc), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            return doc  # a value JSON cannot hold (a date, bytes): parse it every time
        with contextlib.suppress(OSError):
            write_atomic(cached, data.encode("utf-8"))
    return doc


def _encode(value: Any) -> Any:
    if isinstance(value, Located):
        return {"L": [value.line, {k: _encode(v) for k, v in value.value.items()},
                      value.key_lines, value.duplicate_keys]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    raise TypeError(f"not kept in the cache: {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        line, items, key_lines, duplicates = value["L"]
        return Located({k: _decode(v) for k, v in items.items()}, line, key_lines,
                       [(k, n) for k, n in duplicates])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _parse(text: str, path: str) -> Any:
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YAMLProblem(path, line, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YAMLProblem(path, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YAMLProblem(path, None, "invalid YAML: nested too deeply") from None
    if node is None:
        return None
    return _Converter(path).convert(node, 0)


class _Converter:
    def __init__(self, path: str) -> None:
        import yaml

        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()
        self.nodes = 0
        self.open: set[int] = set()  # ids of the collection nodes being converted

    def fail(self, node: Any, message: str) -> YAMLProblem:
        return YAMLProblem(self.path, node.start_mark.line + 1, message)

    def scalar(self, node: Any) -> Any:
        import yaml

        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.fail(node, f"cannot load this value: {problem}") from None

    def convert(self, node: Any, depth: int) -> Any:
        import yaml

        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, f"the document expands to more than {MAX_NODES:,} values "
                                  "(aliases repeating aliases?)")
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self.scalar(node)
        if node.tag not in _PLAIN_TAGS:
            raise self.fail(node, f"cannot load this value: unknown tag {node.tag!r}")
        if depth >= MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in self.open:
            raise self.fail(node, "an alias refers to the value that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(n, depth + 1) for n in node.value]
            out = Located({}, node.start_mark.line + 1)
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "a key must be a plain value, not a list or "
                                              "mapping")
                key = str(self.scalar(key_node))
                line = key_node.start_mark.line + 1
                if key in out.value:
                    out.duplicate_keys.append((key, line))
                out.value[key] = self.convert(value_node, depth + 1)
                out.key_lines[key] = line
            return out
        finally:
            self.open.discard(id(node))


def plain(value: Any) -> Any:
    """Strip :class:`Located` wrappers recursively."""
    if isinstance(value, Located):
        return {k: plain(v) for k, v in value.value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
