"""The service's settings: one frozen object, passed to worker processes as JSON.

Secrets are never part of it: API keys come from an environment variable or a file named
here, and the key that signs session state from an environment variable, each read by the
process that needs them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["API_KEYS_ENV", "CONFIG_ENV", "STATE_KEY_ENV", "ServeConfig", "load_api_keys"]

#: Environment variable holding the serialised :class:`ServeConfig` for worker processes.
CONFIG_ENV = "PHRASECHECK_SERVE_CONFIG"
#: API keys, separated by commas or whitespace.
API_KEYS_ENV = "PHRASECHECK_API_KEYS"
#: The secret that signs exported session state (the same on every instance of a service).
STATE_KEY_ENV = "PHRASECHECK_STATE_KEY"


@dataclass(frozen=True)
class ServeConfig:
    """What ``phrasecheck serve`` was asked for; every limit has a safe default."""

    policy: str = "default"
    lexicons: tuple[str, ...] = ()
    default_lexicon: bool = True
    #: "default" (the bundled model), a model path, or None (no classifier)
    model: str | None = "default"
    max_body_bytes: int = 1_048_576
    max_text_chars: int = 5_000
    max_turns: int = 2_000
    max_context_turns: int = 50
    max_sessions: int = 10_000
    session_ttl: float = 1_800.0
    api_key_file: str | None = None
    log_text: bool = False
    log_level: str = "info"
    access_log: bool = True

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_text_chars", "max_turns", "max_sessions"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_context_turns < 0:
            raise ValueError(f"max_context_turns must be 0 or more, got "
                             f"{self.max_context_turns}")
        if not self.session_ttl > 0:
            raise ValueError(f"session_ttl must be positive, got {self.session_ttl}")
        if self.log_level not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError(f"unknown log level {self.log_level!r} (critical, error, "
                             "warning, info, debug)")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown serve settings: {', '.join(unknown)}")
        if "lexicons" in data:
            data["lexicons"] = tuple(data["lexicons"])
        return cls(**data)

    @classmethod
    def from_env(cls) -> ServeConfig:
        text = os.environ.get(CONFIG_ENV)
        return cls() if not text else cls.from_json(text)


def load_api_keys(config: ServeConfig, environ: Any = None) -> tuple[str, ...]:
    """The API keys from ``$PHRASECHECK_API_KEYS`` and ``config.api_key_file`` (one key per
    line; blank lines and ``#`` comments ignored). No keys: authentication is off."""
    env = os.environ if environ is None else environ
    keys = [k for k in env.get(API_KEYS_ENV, "").replace(",", " ").split() if k]
    if config.api_key_file:
        path = Path(config.api_key_file)
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                keys.append(line)
    short = [k for k in keys if len(k) < 16]
    if short:
        raise ValueError(f"{len(short)} API key(s) shorter than 16 characters: use long "
                         "random keys (e.g. `python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))'`)")
    return tuple(dict.fromkeys(keys))
