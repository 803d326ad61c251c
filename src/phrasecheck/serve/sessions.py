"""Live sessions: one :class:`~phrasecheck.monitor.ConversationMonitor` per open chat, with an
idle timeout and a cap, and session state as an opaque token another worker can restore.

A state token is ``pc1.<payload>.<signature>``: the payload is the monitor's
:meth:`~phrasecheck.monitor.ConversationMonitor.export_state` as compact JSON, deflated and
base64url-encoded; the signature is an HMAC-SHA256 of the payload under
``$PHRASECHECK_STATE_KEY`` (empty when no key is set). Clients store and send the token as it
is, in any language: nothing in it has to be parsed or re-serialised, so no JSON canonical
form is needed for the signature to hold. With a key set, a token that is unsigned, signed
under another key or edited is refused (its verdicts could otherwise be forged).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..analyzer import Analyzer
from ..monitor import ConversationMonitor

__all__ = ["SESSION_ID", "SessionError", "SessionStore", "StateCodec"]

#: What a client-chosen session id may look like (a chat id, a ticket number ...).
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
_PREFIX = "pc1"


class SessionError(Exception):
    """A session request that cannot be met; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class StateCodec:
    """Encode and check session state tokens (see the module docstring)."""

    def __init__(self, key: str | None, max_bytes: int) -> None:
        self._key = key.encode("utf-8") if key else None
        self.max_bytes = max_bytes

    @property
    def signed(self) -> bool:
        return self._key is not None

    def _sign(self, payload: bytes) -> str:
        if self._key is None:
            return ""
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def encode(self, state: dict[str, Any]) -> str:
        raw = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        payload = base64.urlsafe_b64encode(zlib.compress(raw, 6)).rstrip(b"=")
        return f"{_PREFIX}.{payload.decode('ascii')}.{self._sign(payload)}"

    def decode(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise SessionError(422, "bad_state", "session state: not a phrasecheck state "
                               "token (expected 'pc1.<payload>.<signature>', as exported)")
        payload = parts[1].encode("ascii", "replace")
        if self._key is not None:
            if not parts[2]:
                raise SessionError(403, "unsigned_state", "session state: unsigned, and this "
                                   "service only restores state signed with its key")
            if not hmac.compare_digest(parts[2], self._sign(payload)):
                raise SessionError(403, "bad_state_signature", "session state: the signature "
                                   "does not match (edited, or exported by a service with "
                                   "another PHRASECHECK_STATE_KEY)")
        try:
            packed = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
            d = zlib.decompressobj()
            raw = d.decompress(packed, self.max_bytes + 1)
            if len(raw) > self.max_bytes or d.unconsumed_tail:
                raise SessionError(413, "state_too_large", f"session state: more than "
                                   f"{self.max_bytes} bytes once unpacked")
            state = json.loads(raw.decode("utf-8"))
        except SessionError:
            raise
        except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
            raise SessionError(422, "bad_state", "session state: the payload is not valid "
                               "(truncated or edited?)") from None
        if not isinstance(state, dict):
            raise SessionError(422, "bad_state", "session state: the payload is not an "
                               "object")
        return state


@dataclass
class Session:
    monitor: ConversationMonitor
    last_used: float
    created: float = field(default_factory=time.time)


class SessionStore:
    """Open sessions of one worker process, least recently used first.

    Every method runs on the event loop (no locks needed): the monitor's work for one turn is
    short and never awaits, so two turns of one session cannot interleave.
    """

    def __init__(self, ttl: float, cap: int, max_turns: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.cap = cap
        self.max_turns = max_turns
        self._clock = clock
        self._items: OrderedDict[str, Session] = OrderedDict()
        self.closed = {"expired": 0, "finalized": 0, "deleted": 0}

    def __len__(self) -> int:
        return len(self._items)

    def sweep(self) -> int:
        """Drop sessions idle for longer than ``ttl``; returns how many."""
        limit = self._clock() - self.ttl
        n = 0
        while self._items:
            sid, s = next(iter(self._items.items()))
            if s.last_used > limit:
                break
            del self._items[sid]
            n += 1
        self.closed["expired"] += n
        return n

    def _room(self, replacing: str | None = None) -> None:
        if replacing is not None and replacing in self._items:
            return
        if len(self._items) >= self.cap:
            self.sweep()
        if len(self._items) >= self.cap:
            raise SessionError(429, "too_many_sessions",
                               f"{len(self._items)} sessions are open, the limit of this "
                               "service (--max-sessions): finalize or delete finished "
                               "sessions, or wait for idle ones to expire "
                               f"({self.ttl:g} s)")

    def new_id(self) -> str:
        return secrets.token_hex(16)

    def create(self, analyzer: Analyzer, session_id: str | None,
               metadata: dict[str, Any], lang: str = "zh") -> Session:
        sid = session_id or self.new_id()
        self.sweep()
        if sid in self._items:
            raise SessionError(409, "session_exists", f"session {sid!r} is already open")
        self._room()
        s = Session(ConversationMonitor(analyzer, sid, metadata, lang=lang), self._clock())
        self._items[sid] = s
        return s

    def restore(self, analyzer: Analyzer, state: dict[str, Any],
                session_id: str | None = None) -> Session:
        """Open (or replace) a session from exported state."""
        if session_id is not None:
            state = {**state, "id": session_id}
        sid = str(state.get("id", ""))
        if not SESSION_ID.fullmatch(sid):
            raise SessionError(422, "bad_state", "session state: its id is not a valid "
                               "session id")
        self.sweep()
        self._room(replacing=sid)
        try:
            monitor = ConversationMonitor.restore(analyzer, state)
        except ValueError as exc:
            status = 409 if "policy" in str(exc) and "exported under" in str(exc) else 422
            raise SessionError(status, "bad_state", str(exc)) from None
        if len(monitor.turns) > self.max_turns:
            raise SessionError(422, "too_many_turns", f"session state holds "
                               f"{len(monitor.turns)} turns, more than the limit "
                               f"({self.max_turns}, --max-turns)")
        s = Session(monitor, self._clock())
        self._items[sid] = s
        self._items.move_to_end(sid)
        return s

    def get(self, sid: str) -> Session:
        s = self._items.get(sid)
        if s is not None and s.last_used <= self._clock() - self.ttl:
            del self._items[sid]
            self.closed["expired"] += 1
            s = None
        if s is None:
            raise SessionError(404, "unknown_session",
                               f"no open session {sid!r} here: it was never opened, was "
                               f"finalized or deleted, expired after {self.ttl:g} s idle, or "
                               "lives in another worker or instance (send its state to "
                               "continue it here)")
        s.last_used = self._clock()
        self._items.move_to_end(sid)
        return s

    def pop(self, sid: str, reason: str) -> Session:
        s = self.get(sid)
        del self._items[sid]
        self.closed[reason] += 1
        return s

    def take_closed(self) -> dict[str, int]:
        out, self.closed = self.closed, {k: 0 for k in self.closed}
        return out
