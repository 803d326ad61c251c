"""The ASGI application: routes over the Analyzer and ConversationMonitor, and the safety
belt around them (body and text limits, API keys, request ids, JSON logs, metrics, errors
without stack traces).

The work of one message is short and CPU-bound, so it runs on the event loop, in the order
requests arrive (a thread hop would cost more than the check itself); scoring a whole
conversation can take longer and runs in a worker thread, so that health checks and short
checks keep being answered meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..analyzer import Analyzer
from ..monitor import MESSAGE_ALERT_KINDS, Alert, ConversationMonitor
from ..types import Conversation, Finding, Turn
from . import schemas as s
from .config import STATE_KEY_ENV, ServeConfig, load_api_keys
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .sessions import Session, SessionError, SessionStore, StateCodec

__all__ = ["Service", "create_app", "create_app_from_env"]

log = logging.getLogger("phrasecheck.serve")
access_log = logging.getLogger("phrasecheck.serve.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths answered without an API key (load balancers and orchestrators probe them).
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class _BodyTooLarge(StarletteHTTPException):
    pass


# ------------------------------------------------------------------------------ service


class Service:
    """Everything one worker process holds: the Analyzer, the sessions, the metrics."""

    def __init__(self, config: ServeConfig, analyzer: Analyzer | None = None) -> None:
        self.config = config
        self.analyzer: Analyzer | None = None
        self._given = analyzer
        self.ready = False
        self.error: str | None = None
        self.metrics = Metrics()
        self.sessions = SessionStore(config.session_ttl, config.max_sessions, config.max_turns)
        self.codec = StateCodec(os.environ.get(STATE_KEY_ENV) or None,
                                max(16 * config.max_body_bytes, 1 << 20))
        keys = load_api_keys(config)
        # compare digests: equal lengths, and a key's length does not leak through timing
        self._key_digests = tuple(hashlib.sha256(k.encode("utf-8")).digest() for k in keys)
        self.auth = bool(keys)

    # --------------------------------------------------------------------- loading
    def load(self) -> None:
        """Build and warm the Analyzer (jieba dictionary, models); runs in a thread."""
        t0 = time.perf_counter()
        try:
            c = self.config
            analyzer = self._given or Analyzer(policy=c.policy, lexicons=list(c.lexicons),
                                               default_lexicon=c.default_lexicon,
                                               model=c.model)
            analyzer.warm()
            # the Analyzer's millions of long-lived objects (jieba's dictionary, automata,
            # model tables) out of the collector's sight: a full collection would otherwise
            # scan them all, a pause of tens of milliseconds in some request's latency
            gc.collect()
            gc.freeze()
            self.metrics.bind(analyzer.policy)
            self.analyzer = analyzer
            self.ready = True
            self.metrics.ready.set(1)
            log.info("ready", extra={"fields": {
                "policy": analyzer.policy.name, "model": analyzer.model is not None,
                "seconds": round(time.perf_counter() - t0, 3), "auth": self.auth,
                "signed_state": self.codec.signed, "pid": os.getpid()}})
        except Exception as exc:  # reported by /healthz and /readyz, and logged
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.error("loading failed", exc_info=True, extra={"fields": {"pid": os.getpid()}})

    def need(self) -> Analyzer:
        if self.analyzer is None:
            if self.error:
                raise ApiError(503, "failed", f"the service could not load: {self.error}")
            raise ApiError(503, "not_ready", "loading the jieba dictionary and the models; "
                           "retry shortly (GET /readyz tells when it is ready)",
                           {"Retry-After": "1"})
        return self.analyzer

    def authorized(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        key = None
        for name, value in headers:
            if name == b"x-api-key":
                key = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                key = value[7:].strip()
        if not key:
            return False
        digest = hashlib.sha256(key).digest()
        ok = False
        for d in self._key_digests:  # no early exit: every key is compared
            ok |= hmac.compare_digest(d, digest)
        return ok

    # --------------------------------------------------------------------- helpers
    def text_ok(self, text: str, loc: Sequence[Any]) -> None:
        if len(text) > self.config.max_text_chars:
            raise RequestValidationError([{
                "loc": tuple(loc), "type": "string_too_long",
                "msg": f"text is {len(text)} characters, more than the limit of this "
                       f"service ({self.config.max_text_chars}, --max-text-chars)"}])

    def turns_ok(self, turns: Sequence[s.TurnIn], loc: str, limit: int, flag: str) -> None:
        if len(turns) > limit:
            raise RequestValidationError([{
                "loc": ("body", loc), "type": "too_long",
                "msg": f"{len(turns)} turns, more than the limit of this service "
                       f"({limit}, {flag})"}])
        for i, t in enumerate(turns):
            self.text_ok(t.text, ("body", loc, i, "text"))

    def log_message(self, where: str, role: str, text: str, **fields: Any) -> None:
        if self.config.log_text:
            log.info("message", extra={"fields": {"where": where, "role": role, "text": text,
                                                  **fields}})

    def account(self, findings: Sequence[Finding], alerts: Sequence[Alert]) -> None:
        self.metrics.count_findings(findings)
        self.metrics.count_alerts(alerts)

    def session(self, sid: str, state: str | None = None) -> Session:
        analyzer = self.need()
        if state is not None:
            return self.sessions.restore(analyzer, self.codec.decode(state), sid)
        return self.sessions.get(sid)

    async def sweep_forever(self) -> None:
        period = min(30.0, max(0.05, self.config.session_ttl / 4))
        while True:
            await asyncio.sleep(period)
            self.sessions.sweep()
            self.sync_session_metrics()

    def sync_session_metrics(self) -> None:
        self.metrics.set_sessions(len(self.sessions))
        self.metrics.close_sessions(self.sessions.take_closed())


def _suggestions(findings: Sequence[Finding], alerts: Sequence[Alert]) -> list[str]:
    seen = dict.fromkeys([a.suggestion for a in alerts if a.suggestion]
                         + [f.suggestion for f in findings if f.suggestion])
    return list(seen)


def _message_out(findings: Sequence[Finding], alerts: Sequence[Alert]) -> dict[str, Any]:
    return {"findings": [f.to_dict() for f in findings],
            "alerts": [a.to_dict() for a in alerts],
            "suggestions": _suggestions(findings, alerts),
            "veto": any(a.veto for a in alerts)}


def _error(status: int, code: str, message: str, request: Request | None = None,
           detail: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    rid = None if request is None else request.scope.get("state", {}).get("request_id")
    if rid:
        body["request_id"] = rid
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


# --------------------------------------------------------------------------- middleware


class ServiceMiddleware:
    """Request id, API keys, body limit, in-flight count, latency, access log; turns any
    unhandled error into a 500 without a stack trace (the stack goes to the log)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.svc = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc = self.svc
        t0 = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        rid = None
        length = None
        for name, value in headers:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
            elif name == b"content-length":
                length = value
        if not rid or not rid.replace("-", "").replace("_", "").replace(".", "").isalnum():
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode("latin-1"))
        status = 500
        started = False

        async def send_wrapped(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        async def reply(code: int, error: str, text: str, extra: Sequence[tuple[bytes, bytes]]
                        = ()) -> None:
            resp = JSONResponse({"error": error, "message": text, "request_id": rid},
                                status_code=code)
            resp.raw_headers.extend(extra)
            await resp(scope, receive, send_wrapped)

        svc.metrics.in_flight.inc()
        path = scope["path"]
        try:
            if svc.auth and path not in OPEN_PATHS and not svc.authorized(headers):
                await reply(401, "unauthorized", "a valid API key is required: send it as "
                            "'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                            [(b"www-authenticate", b"Bearer")])
                return
            limit = svc.config.max_body_bytes
            if length is not None:
                try:
                    declared = int(length)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await reply(400, "bad_request", "Content-Length is not a number")
                    return
                if declared > limit:
                    await reply(413, "payload_too_large",
                                f"the request body is {declared} bytes, more than the limit "
                                f"of this service ({limit}, --max-body-bytes)")
                    return
            got = 0

            async def receive_limited() -> Message:
                nonlocal got
                message = await receive()
                if message["type"] == "http.request":
                    got += len(message.get("body", b""))
                    if got > limit:
                        raise _BodyTooLarge(413, f"the request body is more than the limit "
                                                 f"of this service ({limit} bytes, "
                                                 "--max-body-bytes)")
                return message

            await self.app(scope, receive_limited, send_wrapped)
        except Exception:
            log.error("unhandled error", exc_info=True,
                      extra={"fields": {"request_id": rid, "path": path}})
            if not started:
                await reply(500, "internal", "internal error; the request id identifies it "
                            "in the service's log")
            status = 500
        finally:
            svc.metrics.in_flight.dec()
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - t0
            svc.metrics.requests.labels(scope["method"], label, str(status)).inc()
            svc.metrics.latency.labels(label).observe(elapsed)
            if svc.config.access_log:
                access_log.info("request", extra={"fields": {
                    "request_id": rid, "method": scope["method"], "path": path,
                    "route": label, "status": status,
                    "ms": round(elapsed * 1000, 3)}})


# -------------------------------------------------------------------------------- routes


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorOut, "description": what} for code, what in (
        (401, "No or wrong API key (when keys are configured)."),
        (413, "Request body over --max-body-bytes."),
        (422, "Invalid request: wrong types, unknown role or field, text or turns over "
              "the limits."),
        (503, "Not ready yet (loading), or loading failed."),
    )}
_SESSION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"model": s.ErrorOut, "description": "State token not signed with this service's "
                                              "key."},
    404: {"model": s.ErrorOut, "description": "No such open session in this process."},
    409: {"model": s.ErrorOut, "description": "Session id already open, or state exported "
                                              "under another policy."},
    429: {"model": s.ErrorOut, "description": "Too many open sessions (--max-sessions)."},
}

_DESCRIPTION = """\
Courtesy-compliance checks for Chinese service conversations (服务用语质检), over HTTP.

* `POST /v1/check`: one message → findings, alerts and suggested wording.
* `POST /v1/score`: a whole conversation → its score under the service's policy, with the
  evidence for every rule (the library's `ConversationScore`).
* `/v1/sessions`: a live chat, turn by turn: alerts as they happen, the running score,
  `finalize`; state export and restore, so any worker or instance can serve a chat.
* `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus).

Errors are JSON: `{"error": CODE, "message": ..., "request_id": ...}`.
"""


def create_app(config: ServeConfig | None = None, *,
               analyzer: Analyzer | None = None) -> FastAPI:
    """The service as an ASGI app (``uvicorn phrasecheck.serve.app:create_app --factory``).

    ``analyzer``: use this one instead of building one from ``config`` (it is warmed at
    start-up all the same).
    """
    config = config or ServeConfig()
    svc = Service(config, analyzer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=svc.load, name="phrasecheck-load", daemon=True).start()
        sweeper = asyncio.create_task(svc.sweep_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            log.info("stopped", extra={"fields": {"pid": os.getpid(),
                                                  "sessions_open": len(svc.sessions)}})

    app = FastAPI(title="phrasecheck", version=__version__, description=_DESCRIPTION,
                  lifespan=lifespan, redoc_url=None)
    app.state.service = svc
    app.add_middleware(ServiceMiddleware, service=svc)

    # ------------------------------------------------------------------ errors
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, request, headers=exc.headers)

    @app.exception_handler(SessionError)
    async def _session_error(request: Request, exc: SessionError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # never echo the input back (it may be a huge or private message)
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid"}
        where = ".".join(str(x) for x in first["loc"] if x != "body") or "body"
        more = f" (and {len(detail) - 1} more)" if len(detail) > 1 else ""
        message = f"{where}: {first['msg']}{more}"
        if request.headers.get("upgrade", "").lower() == "h2c" and first["loc"] == ["body"]:
            message += ("; this request asked for an HTTP/2 upgrade (Upgrade: h2c) and its "
                        "body was not read: send HTTP/1.1 (Java: HttpClient.Version.HTTP_1_1, "
                        "curl: --http1.1), or start the service with --http h11")
        return _error(422, "invalid_request", message, request, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                400: "bad_request"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        return _error(exc.status_code, code, message, request,
                      headers=getattr(exc, "headers", None))

    # ------------------------------------------------------------------ health
    @app.get("/healthz", response_model=s.Health, tags=["operations"],
             summary="Liveness: the process answers (503 if loading failed).")
    async def healthz() -> JSONResponse:
        if svc.error:
            return JSONResponse({"status": "failed", "error": svc.error}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", response_model=s.Health, tags=["operations"],
             summary="Readiness: jieba and the models are loaded.")
    async def readyz() -> JSONResponse:
        if svc.ready:
            return JSONResponse({"status": "ready", "ready": True})
        body = {"status": "failed" if svc.error else "loading", "ready": False}
        if svc.error:
            body["error"] = svc.error
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics", tags=["operations"], response_class=Response,
             summary="Prometheus metrics (text exposition format).")
    async def metrics() -> Response:
        svc.sync_session_metrics()
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ check / score
    @app.post("/v1/check", response_model=s.CheckResponse, responses=_ERRORS, tags=["check"],
              summary="Check one message.")
    async def check(body: s.CheckRequest) -> JSONResponse:
        analyzer = svc.need()
        svc.text_ok(body.text, ("body", "text"))
        context = body.context or []
        svc.turns_ok(context, "context", config.max_context_turns, "--max-context-turns")
        m = ConversationMonitor(analyzer, "check", lang=body.lang)
        for t in context:
            m.add(t.role, t.text, start=t.start, end=t.end, speaker=t.speaker)
        alerts = m.add(body.role, body.text)
        if body.context is None:
            alerts = [a for a in alerts if a.kind in MESSAGE_ALERT_KINDS]
        findings = m.turn_findings()
        svc.account(findings, alerts)
        svc.log_message("check", body.role, body.text)
        return JSONResponse(_message_out(findings, alerts))

    @app.post("/v1/score", response_model=s.ScoreOut, responses=_ERRORS, tags=["check"],
              summary="Score a whole conversation.")
    async def score(body: s.ScoreRequest) -> JSONResponse:
        analyzer = svc.need()
        svc.turns_ok(body.turns, "turns", config.max_turns, "--max-turns")
        conv = Conversation(body.id, tuple(
            Turn(i, t.role, t.text, t.start, t.end, t.speaker)
            for i, t in enumerate(body.turns)), body.metadata)
        result = await run_in_threadpool(analyzer.score, conv)
        svc.metrics.count_findings(result.findings)
        svc.metrics.count_results(result.rule_results)
        return JSONResponse(result.to_dict())

    # ------------------------------------------------------------------ sessions
    @app.post("/v1/sessions", status_code=201, response_model=s.SessionOut,
              responses=_SESSION_ERRORS, tags=["sessions"],
              summary="Open a session (or restore one from a state token).")
    async def open_session(body: s.SessionCreate) -> JSONResponse:
        analyzer = svc.need()
        if body.state is not None:
            sess = svc.sessions.restore(analyzer, svc.codec.decode(body.state),
                                        body.session_id)
        else:
            sess = svc.sessions.create(analyzer, body.session_id, body.metadata, body.lang)
        svc.sync_session_metrics()
        return JSONResponse({"session_id": sess.monitor.id, "turns": len(sess.monitor.turns),
                             "idle_timeout": config.session_ttl}, status_code=201)

    @app.post("/v1/sessions/{session_id}/turns", response_model=s.TurnOut,
              responses=_SESSION_ERRORS, tags=["sessions"],
              summary="Add a turn; get the alerts it raises.")
    async def add_turn(session_id: str, body: s.SessionTurn) -> JSONResponse:
        svc.text_ok(body.text, ("body", "text"))
        sess = svc.session(session_id, body.state)
        m = sess.monitor
        if len(m.turns) >= config.max_turns:
            raise ApiError(422, "too_many_turns", f"session {session_id!r} has "
                           f"{len(m.turns)} turns, the limit of this service (--max-turns)")
        alerts = m.add(body.role, body.text, start=body.start, end=body.end,
                       speaker=body.speaker)
        findings = m.turn_findings()
        svc.account(findings, alerts)
        svc.log_message("session", body.role, body.text, session_id=session_id,
                        turn=len(m.turns) - 1)
        out = {"session_id": session_id, "turn": len(m.turns) - 1,
               **_message_out(findings, alerts)}
        if body.return_state:
            out["state"] = svc.codec.encode(m.export_state())
        return JSONResponse(out)

    @app.get("/v1/sessions/{session_id}", response_model=s.SessionStatus,
             responses=_SESSION_ERRORS, tags=["sessions"],
             summary="The running score and every alert so far.")
    async def session_status(session_id: str) -> JSONResponse:
        m = svc.session(session_id).monitor
        return JSONResponse({"session_id": session_id, "turns": len(m.turns),
                             "alerts": [a.to_dict() for a in m.alerts],
                             "running": m.running_score().to_dict()})

    @app.get("/v1/sessions/{session_id}/state", response_model=s.StateOut,
             responses=_SESSION_ERRORS, tags=["sessions"],
             summary="Export the session's state as a token.")
    async def export_state(session_id: str) -> JSONResponse:
        m = svc.session(session_id).monitor
        return JSONResponse({"session_id": session_id, "turns": len(m.turns),
                             "signed": svc.codec.signed,
                             "state": svc.codec.encode(m.export_state())})

    @app.post("/v1/sessions/{session_id}/finalize", response_model=s.ScoreOut,
              responses=_SESSION_ERRORS, tags=["sessions"],
              summary="Close the session and return its final score.")
    async def finalize(session_id: str, body: s.SessionFinalize | None = None) -> JSONResponse:
        if body is not None and body.state is not None:
            svc.session(session_id, body.state)
        sess = svc.sessions.pop(session_id, "finalized")
        svc.sync_session_metrics()
        result = await run_in_threadpool(sess.monitor.finalize)
        svc.metrics.count_results(result.rule_results)
        return JSONResponse(result.to_dict())

    @app.delete("/v1/sessions/{session_id}", status_code=204, responses=_SESSION_ERRORS,
                tags=["sessions"], summary="Drop the session without scoring it.")
    async def delete_session(session_id: str) -> Response:
        svc.need()
        svc.sessions.pop(session_id, "deleted")
        svc.sync_session_metrics()
        return Response(status_code=204)

    return app


def create_app_from_env() -> FastAPI:
    """The factory uvicorn's worker processes call: settings from ``$PHRASECHECK_SERVE_CONFIG``.

    A worker process is the service's own, so it also takes the logging module's documented
    shortcuts (no caller lookup, thread or process names on every record): a log line per
    request should cost microseconds, not tens of them."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return create_app(ServeConfig.from_env())
