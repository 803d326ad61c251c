"""Exceptions. Each says what is wrong, where, and what exists instead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigIssue",
    "LexiconError",
    "ModelError",
    "PhrasecheckError",
    "PolicyError",
]


class PhrasecheckError(Exception):
    """Base class of phrasecheck's own errors."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a lexicon or policy file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else (
            f"{self.path}: {self.message}")


class _IssuesError(PhrasecheckError):
    what = "file"

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        shown = "\n".join(f"  {i}" for i in self.issues[:50])
        more = f"\n  … and {len(self.issues) - 50} more" if len(self.issues) > 50 else ""
        n = len(self.issues)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in {self.what}:\n{shown}{more}")


class LexiconError(_IssuesError):
    """A lexicon file is invalid; ``issues`` lists every problem with file and line."""

    what = "lexicon"


class PolicyError(_IssuesError):
    """A policy file is invalid, or a policy name is unknown."""

    what = "policy"


class ModelError(PhrasecheckError):
    """A classifier model file is missing, unsafe, or incompatible with this installation."""
