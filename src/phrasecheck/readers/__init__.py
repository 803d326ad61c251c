"""Transcript readers: txt, JSON Lines, JSON, CSV, XLSX and DataFrames, with encoding detection
and speaker-role inference. Bad input becomes :class:`~phrasecheck.types.ReadError`, never an
exception; third-party libraries (openpyxl, charset-normalizer, pandas) load on first use."""

from __future__ import annotations

from ._common import LAYOUTS, ROLE_ALIASES
from .core import ConversationReader, read_conversations, read_file, read_stream
from .frame import conversations_from_frame
from .inputs import DEFAULT_EXCLUDE, FORMATS, expand_inputs
from .roles import RoleInference, infer_agent
from .writers import WRITE_FORMATS, write_conversations

__all__ = [
    "DEFAULT_EXCLUDE",
    "FORMATS",
    "LAYOUTS",
    "ROLE_ALIASES",
    "WRITE_FORMATS",
    "ConversationReader",
    "RoleInference",
    "conversations_from_frame",
    "expand_inputs",
    "infer_agent",
    "read_conversations",
    "read_file",
    "read_stream",
    "write_conversations",
]
