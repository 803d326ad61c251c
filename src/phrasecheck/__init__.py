"""phrasecheck: courtesy-compliance checking for Chinese service conversations.

Importing phrasecheck does nothing but define names: jieba, the classifier model and pandas
load on first use.

>>> from phrasecheck import Analyzer
>>> analyzer = Analyzer(policy="hotline")
>>> [(f.category, f.text) for f in analyzer.check_text("您好，请稍等")]
[('greeting', '您好'), ('wait', '请稍等')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .analyzer import Analyzer
from .errors import LexiconError, ModelError, PhrasecheckError, PolicyError
from .lexicon import Lexicon, LexiconEntry, lint_lexicon, load_lexicon
from .policy import Policy, available_policies, load_policy
from .types import (
    Conversation,
    ConversationScore,
    Evidence,
    Finding,
    ReadError,
    RuleResult,
    ToneResult,
    Turn,
)

if TYPE_CHECKING:
    from .frames import findings_frame, rule_results_frame, score_frame, scores_frame
    from .monitor import ConversationMonitor
    from .readers import conversations_from_frame, read_conversations

__all__ = [
    "Analyzer",
    "Conversation",
    "ConversationMonitor",
    "ConversationScore",
    "Evidence",
    "Finding",
    "Lexicon",
    "LexiconEntry",
    "LexiconError",
    "ModelError",
    "PhrasecheckError",
    "Policy",
    "PolicyError",
    "ReadError",
    "RuleResult",
    "ToneResult",
    "Turn",
    "__version__",
    "available_policies",
    "conversations_from_frame",
    "findings_frame",
    "lint_lexicon",
    "load_lexicon",
    "load_policy",
    "read_conversations",
    "rule_results_frame",
    "score_frame",
    "scores_frame",
]

_LAZY = {
    "read_conversations": "readers",
    "conversations_from_frame": "readers",
    "findings_frame": "frames",
    "scores_frame": "frames",
    "score_frame": "frames",
    "rule_results_frame": "frames",
    "ConversationMonitor": "monitor",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phrasecheck' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
