"""Structured logs: one JSON object per line, on standard error.

Log records carry their fields in ``extra={"fields": {...}}``. Message text (what agents and
customers wrote) is never logged unless the service was started with ``--log-text``; an
exception is logged with its type and stack, and its message only with ``--log-text`` (an
error message may quote the input).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

__all__ = ["JsonFormatter", "log_config"]


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "event": ..., **fields}`` per record."""

    def __init__(self, log_text: bool = False) -> None:
        super().__init__()
        self.log_text = log_text

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            etype, evalue, tb = record.exc_info
            out["error"] = etype.__name__
            stack = "".join(traceback.format_tb(tb))
            if self.log_text:
                out["error_message"] = str(evalue)
            out["stack"] = stack
        return json.dumps(out, ensure_ascii=False, default=str)


def log_config(level: str = "info", log_text: bool = False) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn and the service: JSON everywhere,
    uvicorn's own access log off (the service logs each request itself, with its id)."""
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "phrasecheck.serve.logs.JsonFormatter",
                                "log_text": log_text}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "phrasecheck": {"handlers": ["stderr"], "level": lvl, "propagate": False},
        },
    }
