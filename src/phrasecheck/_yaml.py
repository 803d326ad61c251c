"""YAML loading that remembers line numbers, for errors that point at the right line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Located", "load_located"]


@dataclass
class Located:
    """A YAML mapping as a dict, with the 1-based line of the mapping and of each key."""

    value: dict[str, Any]
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)


def load_located(text: str, path: str) -> Any:
    """Parse YAML; every mapping becomes a :class:`Located`. Raises ``ValueError`` with
    ``path:line`` on a syntax error."""
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ValueError(f"{path}:{line}: invalid YAML: {exc.problem or exc}") from None
    if node is None:
        return None
    constructor = yaml.constructor.SafeConstructor()
    return _convert(node, constructor)


def _convert(node: Any, constructor: Any) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        out = Located({}, node.start_mark.line + 1)
        for key_node, value_node in node.value:
            key = str(constructor.construct_object(key_node, deep=True))
            line = key_node.start_mark.line + 1
            if key in out.value:
                out.duplicate_keys.append((key, line))
            out.value[key] = _convert(value_node, constructor)
            out.key_lines[key] = line
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(n, constructor) for n in node.value]
    return constructor.construct_object(node, deep=True)


def plain(value: Any) -> Any:
    """Strip :class:`Located` wrappers recursively."""
    if isinstance(value, Located):
        return {k: plain(v) for k, v in value.value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
