"""`phrasecheck serve` (issue 16): the real server, started as a subprocess on a free port,
spoken to over HTTP with httpx.

Five servers start together at the beginning of the module (each loads jieba and the model,
so they load in parallel; the wait is generous, for a busy machine):

* ``plain``: defaults, no API keys, a state key (signed session state);
* ``guarded``: API keys, the same state key, at most 3 sessions, 4 s idle timeout;
* ``pair``: 2 worker processes, no state key (the no-sticky-routing pattern, metrics of
  several workers added up);
* ``chatty``: ``--log-text``, a large --max-turns, the h11 parser (the graceful-shutdown
  test stops it);
* ``broken``: a model file that cannot load (liveness and readiness say so).

Responses are compared with the library's results for the same input (the service must
answer what ``Analyzer`` answers), and validated against the API's own response models.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from phrasecheck import Analyzer, read_conversations  # noqa: E402
from phrasecheck.monitor import ConversationMonitor  # noqa: E402
from phrasecheck.serve import schemas  # noqa: E402
from phrasecheck.types import Conversation  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent
DEMO = ROOT / "corpora" / "demo"

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"
STATE_KEY = "state-secret-for-tests-only"
STARTUP_TIMEOUT = 240.0  # seconds: five servers load jieba and the model at once


# ------------------------------------------------------------------------------ servers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``phrasecheck serve`` subprocess; its stderr (JSON logs) goes to a file."""

    def __init__(self, name: str, tmp: Path, args: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.seen_loading = False
        self.check_while_loading: Any = None
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("PHRASECHECK_API_KEYS", "PHRASECHECK_STATE_KEY",
                                 "PROMETHEUS_MULTIPROC_DIR", "PHRASECHECK_SERVE_CONFIG")}
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "phrasecheck.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=self._log, env=full_env, cwd=Path.cwd())

    def wait(self, ready: bool = True, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll /readyz (or /healthz) until it answers as wanted."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=10) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server {self.name} exited with {self.proc.returncode}:"
                                       f"\n{self.log()[-3000:]}")
                try:
                    r = c.get("/readyz")
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                if r.status_code == 200:
                    return
                body = r.json()
                if body["status"] == "loading":
                    self.seen_loading = True
                    if self.check_while_loading is None:
                        h = {"Authorization": f"Bearer {KEY}"}
                        self.check_while_loading = c.post("/v1/check", json={"text": "您好"},
                                                          headers=h)
                elif not ready and body["status"] == "failed":
                    return
                time.sleep(0.2)
        raise RuntimeError(f"server {self.name} not ready after {timeout:.0f} s:\n"
                           f"{self.log()[-3000:]}")

    def client(self, key: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    tmp = tmp_path_factory.mktemp("serve")
    keyfile = tmp / "keys.txt"
    keyfile.write_text(f"# keys for the tests\n{OTHER_KEY}\n", encoding="utf-8")
    bad_model = tmp / "bad_model.json"
    bad_model.write_text("{}", encoding="utf-8")
    started = {
        "plain": Server("plain", tmp, [], {"PHRASECHECK_STATE_KEY": STATE_KEY}),
        "guarded": Server("guarded", tmp, ["--api-key-file", str(keyfile), "--max-sessions",
                                           "3", "--session-ttl", "4"],
                          {"PHRASECHECK_API_KEYS": KEY, "PHRASECHECK_STATE_KEY": STATE_KEY}),
        "pair": Server("pair", tmp, ["--workers", "2"]),
        "chatty": Server("chatty", tmp, ["--log-text", "--max-turns", "20000",
                                         "--max-body-bytes", "4000000", "--http", "h11"]),
        "broken": Server("broken", tmp, ["--model", str(bad_model)]),
    }
    try:
        for name, srv in started.items():
            srv.wait(ready=name != "broken")
        yield started
    finally:
        for srv in started.values():
            srv.stop()


@pytest.fixture(scope="module")
def plain(servers: dict[str, Server]) -> Server:
    return servers["plain"]


@pytest.fixture(scope="module")
def guarded(servers: dict[str, Server]) -> Server:
    return servers["guarded"]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    """What the servers run: the default policy and model."""
    return Analyzer().warm()


@pytest.fixture(scope="module")
def demo() -> list[Conversation]:
    return list(read_conversations(DEMO))


def _json(obj: Any) -> Any:
    """What an object looks like once it has been through JSON."""
    return json.loads(json.dumps(obj, ensure_ascii=False))


def _turns(c: Conversation) -> list[dict[str, Any]]:
    return [{"role": t.role, "text": t.text, "start": t.start, "end": t.end,
             "speaker": t.speaker} for t in c.turns]


def _no_lines(c: Conversation) -> Conversation:
    """The conversation as a client sends it: source line numbers are not part of a turn."""
    from dataclasses import replace

    return replace(c, turns=tuple(replace(t, line=None) for t in c.turns))


# --------------------------------------------------------------------- health and docs


def test_health_and_readiness(servers: dict[str, Server]) -> None:
    for name in ("plain", "guarded", "pair", "chatty"):
        with servers[name].client() as c:  # no key: probes are open
            assert c.get("/healthz").json() == {"status": "ok"}
            assert c.get("/readyz").json() == {"status": "ready", "ready": True}


def test_not_ready_while_loading(servers: dict[str, Server]) -> None:
    """Before jieba and the model are loaded, /readyz and the API say 503 (seen while the
    tests waited for the servers, when the timing allowed it)."""
    seen = [s for s in servers.values() if s.seen_loading]
    if not seen:
        pytest.skip("every server was ready at its first probe")
    for s in seen:
        r = s.check_while_loading
        assert r is not None and r.status_code in (503, 200)
        if r.status_code == 503:
            assert r.json()["error"] in ("not_ready", "failed")
            assert r.headers.get("retry-after") == "1"


def test_a_model_that_cannot_load_is_not_healthy(servers: dict[str, Server]) -> None:
    with servers["broken"].client() as c:
        h = c.get("/healthz")
        assert h.status_code == 503 and h.json()["status"] == "failed"
        assert "ModelError" in h.json()["error"]
        assert c.get("/readyz").status_code == 503
        r = c.post("/v1/check", json={"text": "您好"})
        assert r.status_code == 503 and r.json()["error"] == "failed"
    assert '"loading failed"' in servers["broken"].log()


def test_openapi_schema_comes_from_the_typed_models(plain: Server) -> None:
    with plain.client() as c:
        doc = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
    paths = doc["paths"]
    for path, method in [("/v1/check", "post"), ("/v1/score", "post"),
                         ("/v1/sessions", "post"), ("/v1/sessions/{session_id}/turns", "post"),
                         ("/v1/sessions/{session_id}", "get"),
                         ("/v1/sessions/{session_id}", "delete"),
                         ("/v1/sessions/{session_id}/state", "get"),
                         ("/v1/sessions/{session_id}/finalize", "post"),
                         ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get")]:
        assert method in paths[path], (path, method)
    comps = doc["components"]["schemas"]
    for name in ("CheckRequest", "CheckResponse", "ScoreRequest", "ScoreOut", "AlertOut",
                 "FindingOut", "TurnOut", "SessionStatus", "StateOut", "ErrorOut"):
        assert name in comps, name
    assert set(comps["TurnIn"]["properties"]["role"]["enum"]) == {
        "agent", "customer", "system", "unknown"}
    ok = paths["/v1/check"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/CheckResponse")
    assert "413" in paths["/v1/check"]["post"]["responses"]


# ------------------------------------------------------------------------------ check


def _messages(demo: list[Conversation]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for c in demo:
        for t in c.turns:
            if t.role in ("agent", "customer"):
                seen.setdefault((t.role, t.text))
    return list(seen)[:300]


def test_check_answers_what_check_text_answers(plain: Server, analyzer: Analyzer,
                                               demo: list[Conversation]) -> None:
    msgs = _messages(demo)
    assert len(msgs) >= 200
    with plain.client() as c:
        for role, text in msgs:
            r = c.post("/v1/check", json={"text": text, "role": role})
            assert r.status_code == 200, r.text
            body = schemas.CheckResponse.model_validate(r.json())
            want = _json([f.to_dict() for f in analyzer.check_text(text, role, turn=0)])
            assert r.json()["findings"] == want, text
            assert body.veto == any(a.veto for a in body.alerts)


def test_check_raises_a_veto_alert_with_suggestions(plain: Server) -> None:
    with plain.client() as c:
        r = c.post("/v1/check", json={"text": "这个不归我们管，有本事你去投诉"}).json()
    kinds = [a["kind"] for a in r["alerts"]]
    assert kinds[0] == "veto" and "banned_phrase" in kinds
    veto = r["alerts"][0]
    assert veto["veto"] and veto["severity"] == "critical"
    assert veto["rule_id"] == "abusive_language"
    assert r["veto"] is True
    assert r["suggestions"] and len(r["suggestions"]) == len(set(r["suggestions"]))
    assert veto["suggestion"] in r["suggestions"]
    for f in r["findings"]:
        assert "这个不归我们管，有本事你去投诉"[f["start"]:f["end"]] == f["text"]


def test_alert_messages_in_chinese_or_english(plain: Server) -> None:
    with plain.client() as c:
        zh = c.post("/v1/check", json={"text": "有本事你去投诉"}).json()["alerts"][0]
        en = c.post("/v1/check", json={"text": "有本事你去投诉", "lang": "en"}
                    ).json()["alerts"][0]
        assert c.post("/v1/check", json={"text": "x", "lang": "fr"}).status_code == 422
    assert zh["kind"] == en["kind"] == "veto" and "一票否决" in zh["message"]
    assert zh["message"] != en["message"]


def test_check_without_context_raises_only_message_alerts(plain: Server) -> None:
    with plain.client() as c:
        alone = c.post("/v1/check", json={"text": "材料带了吗？"}).json()
        after = c.post("/v1/check", json={"text": "材料带了吗？", "context": [
            {"role": "agent", "text": "下一位。"},
            {"role": "customer", "text": "我来办社保卡。"}]}).json()
    assert alone["alerts"] == []
    assert [a["kind"] for a in after["alerts"]] == ["missing_greeting"]
    assert after["alerts"][0]["turn"] == 2


def test_check_with_context_raises_what_a_session_raises(plain: Server, analyzer: Analyzer,
                                                         demo: list[Conversation]) -> None:
    with plain.client() as c:
        for conv in demo[:6]:
            m = ConversationMonitor(analyzer, "check")
            turns = _turns(conv)[:12]
            for i, t in enumerate(turns):
                want = [a.to_dict() for a in m.add(t["role"], t["text"], start=t["start"],
                                                   end=t["end"], speaker=t["speaker"])]
                r = c.post("/v1/check", json={"text": t["text"], "role": t["role"],
                                              "context": turns[:i]})
                assert r.status_code == 200
                assert r.json()["alerts"] == _json(want), (conv.id, i)


# ------------------------------------------------------------------------------ score


def test_score_is_the_library_score(plain: Server, analyzer: Analyzer,
                                    demo: list[Conversation]) -> None:
    with plain.client() as c:
        for conv in demo:
            conv = _no_lines(conv)
            r = c.post("/v1/score", json={"id": conv.id, "turns": _turns(conv),
                                          "metadata": _json(dict(conv.metadata))})
            assert r.status_code == 200, r.text
            schemas.ScoreOut.model_validate(r.json())
            assert r.json() == _json(analyzer.score(conv).to_dict()), conv.id


# --------------------------------------------------------------------------- sessions


def _run_session(c: Any, conv: Conversation, sid: str | None = None) -> tuple[str, list[Any]]:
    r = c.post("/v1/sessions", json={"session_id": sid, "metadata": _json(conv.metadata)}
               if sid else {"metadata": _json(conv.metadata)})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    alerts = []
    for t in _turns(conv):
        r = c.post(f"/v1/sessions/{sid}/turns", json=t)
        assert r.status_code == 200, r.text
        alerts.append(r.json()["alerts"])
    return sid, alerts


def test_session_alerts_running_score_and_finalize(plain: Server, analyzer: Analyzer,
                                                    demo: list[Conversation]) -> None:
    with plain.client() as c:
        for conv in demo[:12]:
            conv = _no_lines(conv)
            m = ConversationMonitor(analyzer, conv.id, conv.metadata)
            want_alerts = [_json([a.to_dict() for a in m.add(t)]) for t in conv.turns]
            sid, alerts = _run_session(c, conv, f"chat-{conv.id}"[:100])
            assert alerts == want_alerts, conv.id
            status = c.get(f"/v1/sessions/{sid}")
            assert status.status_code == 200
            schemas.SessionStatus.model_validate(status.json())
            assert status.json()["running"] == _json(
                {**m.running_score().to_dict(),
                 "score": {**m.running_score().score.to_dict(), "id": sid}})
            assert status.json()["alerts"] == [a for turn in want_alerts for a in turn]
            final = c.post(f"/v1/sessions/{sid}/finalize")
            assert final.status_code == 200
            want = _json({**analyzer.score(conv).to_dict(), "id": sid})
            assert final.json() == want, conv.id
            gone = c.get(f"/v1/sessions/{sid}")
            assert gone.status_code == 404 and gone.json()["error"] == "unknown_session"


def test_session_turn_answers_findings_like_check(plain: Server, analyzer: Analyzer) -> None:
    with plain.client() as c:
        sid = c.post("/v1/sessions", json={}).json()["session_id"]
        r = c.post(f"/v1/sessions/{sid}/turns",
                   json={"role": "agent", "text": "不知道，你自己去问吧"}).json()
        schemas.TurnOut.model_validate(r)
        assert r["turn"] == 0 and r["session_id"] == sid
        assert r["findings"] == _json([f.to_dict() for f in analyzer.check_text(
            "不知道，你自己去问吧", "agent", turn=0)])
        assert c.delete(f"/v1/sessions/{sid}").status_code == 204
        assert c.delete(f"/v1/sessions/{sid}").status_code == 404


def test_session_ids_are_checked(plain: Server) -> None:
    with plain.client() as c:
        r = c.post("/v1/sessions", json={"session_id": "bad id with spaces"})
        assert r.status_code == 422
        assert c.post("/v1/sessions", json={"session_id": "dup-1"}).status_code == 201
        r = c.post("/v1/sessions", json={"session_id": "dup-1"})
        assert r.status_code == 409 and r.json()["error"] == "session_exists"
        c.delete("/v1/sessions/dup-1")


def test_concurrent_sessions(plain: Server, analyzer: Analyzer,
                             demo: list[Conversation]) -> None:
    """Eight chats at once, their turns interleaved: each finalizes to its own score."""
    convs = [_no_lines(c) for c in demo[:16]]
    barrier = threading.Barrier(8)

    def chat(i: int) -> list[tuple[str, Any, Any]]:
        out = []
        with plain.client() as c:
            barrier.wait()
            for conv in convs[i::8]:
                sid, _ = _run_session(c, conv)
                final = c.post(f"/v1/sessions/{sid}/finalize").json()
                out.append((conv.id, sid, final))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [x for part in pool.map(chat, range(8)) for x in part]
    assert len(results) == len(convs)
    by_id = {c.id: c for c in convs}
    for cid, sid, final in results:
        assert final == _json({**analyzer.score(by_id[cid]).to_dict(), "id": sid}), cid


def test_export_and_restore_across_two_server_processes(
        plain: Server, guarded: Server, analyzer: Analyzer, demo: list[Conversation]) -> None:
    """Half a chat on one server, exported; restored on another process (same state key),
    continued and finalized there: the same score as the whole conversation in the library,
    and the same alerts as one uninterrupted monitor."""
    with plain.client() as a, guarded.client(KEY) as b:
        for conv in demo[:8]:
            conv = _no_lines(conv)
            m = ConversationMonitor(analyzer, conv.id, conv.metadata)
            want_alerts = [_json([x.to_dict() for x in m.add(t)]) for t in conv.turns]
            k = max(1, len(conv.turns) // 2)
            sid = a.post("/v1/sessions", json={"metadata": _json(conv.metadata)}
                         ).json()["session_id"]
            for t in _turns(conv)[:k]:
                assert a.post(f"/v1/sessions/{sid}/turns", json=t).status_code == 200
            exported = a.get(f"/v1/sessions/{sid}/state")
            assert exported.status_code == 200
            schemas.StateOut.model_validate(exported.json())
            assert exported.json()["signed"] is True and exported.json()["turns"] == k
            token = exported.json()["state"]
            r = b.post("/v1/sessions", json={"state": token})
            assert r.status_code == 201, r.text
            assert r.json() == {"session_id": sid, "turns": k, "idle_timeout": 4.0}
            later = [b.post(f"/v1/sessions/{sid}/turns", json=t).json()["alerts"]
                     for t in _turns(conv)[k:]]
            assert later == want_alerts[k:], conv.id
            final = b.post(f"/v1/sessions/{sid}/finalize").json()
            assert final == _json({**analyzer.score(conv).to_dict(), "id": sid}), conv.id
            a.delete(f"/v1/sessions/{sid}")


def test_no_sticky_routing_state_travels_with_each_turn(
        servers: dict[str, Server], analyzer: Analyzer, demo: list[Conversation]) -> None:
    """Two worker processes, no session affinity: every turn carries the state returned by
    the previous one, so whichever worker answers continues the chat."""
    pair = servers["pair"]
    for conv in demo[:6]:
        conv = _no_lines(conv)
        m = ConversationMonitor(analyzer, "c-" + conv.id[:60], conv.metadata)
        want = [_json([x.to_dict() for x in m.add(t)]) for t in conv.turns]
        token = None
        got = []
        sid = "c-" + conv.id[:60]
        for t in _turns(conv):
            # a new connection each turn, so the two workers share the turns
            with pair.client() as c:
                if token is None:
                    assert c.post("/v1/sessions", json={
                        "session_id": sid, "metadata": _json(conv.metadata)}
                    ).status_code == 201
                r = c.post(f"/v1/sessions/{sid}/turns",
                           json={**t, "state": token, "return_state": True})
                assert r.status_code == 200, r.text
                got.append(r.json()["alerts"])
                token = r.json()["state"]
        assert got == want, conv.id
        with pair.client() as c:
            final = c.post(f"/v1/sessions/{sid}/finalize", json={"state": token})
        assert final.status_code == 200
        assert final.json() == _json({**analyzer.score(conv).to_dict(), "id": sid})


def test_signed_state_cannot_be_edited_or_forged(plain: Server, guarded: Server) -> None:
    with plain.client() as a:
        sid = a.post("/v1/sessions", json={}).json()["session_id"]
        a.post(f"/v1/sessions/{sid}/turns", json={"role": "agent", "text": "您好"})
        token = a.get(f"/v1/sessions/{sid}/state").json()["state"]
        prefix, payload, sig = token.split(".")
        edited = f"{prefix}.{payload[:-2]}AA.{sig}"
        for bad, status, code in [(edited, 403, "bad_state_signature"),
                                  (f"{prefix}.{payload}.", 403, "unsigned_state"),
                                  ("not a token", 422, "bad_state")]:
            r = a.post("/v1/sessions", json={"state": bad})
            assert r.status_code == status and r.json()["error"] == code, r.text
        a.delete(f"/v1/sessions/{sid}")


def test_unsigned_state_from_a_keyless_service_is_refused_by_a_keyed_one(
        servers: dict[str, Server], guarded: Server) -> None:
    with servers["pair"].client() as p, guarded.client(KEY) as g:
        sid = p.post("/v1/sessions", json={}).json()["session_id"]
        token = p.post(f"/v1/sessions/{sid}/turns", json={
            "role": "agent", "text": "您好", "return_state": True}).json()["state"]
        assert token.endswith(".")  # no key, no signature
        r = g.post("/v1/sessions", json={"state": token})
        assert r.status_code == 403 and r.json()["error"] == "unsigned_state"


def test_session_cap_and_idle_timeout(guarded: Server) -> None:
    with guarded.client(KEY) as c:
        for s in range(5):  # leftovers of other tests: drop them
            c.delete(f"/v1/sessions/cap-{s}")
        time.sleep(4.5)  # and let anything else expire
        opened = [c.post("/v1/sessions", json={"session_id": f"cap-{i}"}) for i in range(3)]
        assert [r.status_code for r in opened] == [201, 201, 201]
        r = c.post("/v1/sessions", json={"session_id": "cap-3"})
        assert r.status_code == 429 and r.json()["error"] == "too_many_sessions"
        assert "--max-sessions" in r.json()["message"]
        # keep cap-0 busy while the others go idle past the timeout
        for _ in range(5):
            time.sleep(1.0)
            assert c.post("/v1/sessions/cap-0/turns",
                          json={"role": "agent", "text": "您好"}).status_code == 200
        r = c.post("/v1/sessions/cap-1/turns", json={"role": "agent", "text": "您好"})
        assert r.status_code == 404 and "expired" in r.json()["message"]
        assert c.post("/v1/sessions", json={"session_id": "cap-3"}).status_code == 201
        assert c.get("/v1/sessions/cap-0").json()["turns"] == 5
        for s in ("cap-0", "cap-3"):
            c.delete(f"/v1/sessions/{s}")


# ------------------------------------------------------------------------------ bad input


def test_a_huge_body_is_refused_with_413(plain: Server) -> None:
    huge = json.dumps({"text": "您好" * 400_000}).encode("utf-8")
    with plain.client() as c:
        r = c.post("/v1/check", content=huge, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"] == "payload_too_large"
        assert "--max-body-bytes" in r.json()["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for i in range(0, len(huge), 65536):
                yield huge[i:i + 65536]

        r = c.post("/v1/check", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize("path, body, where", [
    ("/v1/check", {"text": 123}, "text"),
    ("/v1/check", {"text": ["a"]}, "text"),
    ("/v1/check", {}, "text"),
    ("/v1/check", {"text": "您好", "role": "agnet"}, "role"),
    ("/v1/check", {"text": "您好", "role": "boss"}, "role"),
    ("/v1/check", {"text": "您好", "txt": "typo"}, "txt"),
    ("/v1/check", {"text": "您好", "context": "not a list"}, "context"),
    ("/v1/check", {"text": "您好", "context": [{"role": "坐席", "text": "x"}]}, "context.0.role"),
    ("/v1/score", {"turns": [{"role": "agent"}]}, "turns.0.text"),
    ("/v1/score", {"turns": [{"role": "agent", "text": "x", "start": "soon"}]},
     "turns.0.start"),
    ("/v1/score", {"turns": "none"}, "turns"),
    ("/v1/sessions", {"metadata": []}, "metadata"),
])
def test_wrong_types_unknown_roles_and_fields_are_422(plain: Server, path: str,
                                                       body: dict[str, Any], where: str) -> None:
    with plain.client() as c:
        r = c.post(path, json=body)
    assert r.status_code == 422, r.text
    out = r.json()
    schemas.ErrorOut.model_validate(out)
    assert out["error"] == "invalid_request" and out["message"].startswith(where)
    assert out["detail"] and all(set(d) == {"loc", "msg", "type"} for d in out["detail"])


def test_a_session_turn_with_an_unknown_role_is_422(plain: Server) -> None:
    with plain.client() as c:
        sid = c.post("/v1/sessions", json={}).json()["session_id"]
        r = c.post(f"/v1/sessions/{sid}/turns", json={"role": "supervisor", "text": "您好"})
        assert r.status_code == 422 and r.json()["message"].startswith("role")
        c.delete(f"/v1/sessions/{sid}")


def test_invalid_json_nan_and_limits(plain: Server) -> None:
    with plain.client() as c:
        r = c.post("/v1/check", content=b'{"text": "unterminated',
                   headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"
        r = c.post("/v1/score", content=b'{"turns": [], "metadata": {"x": NaN}}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 422 and "NaN" in r.json()["message"]
        r = c.post("/v1/check", json={"text": "您" * 5001})
        assert r.status_code == 422 and "--max-text-chars" in r.json()["message"]
        assert c.post("/v1/check", json={"text": "您" * 5000}).status_code == 200
        r = c.post("/v1/check", json={"text": "您好", "context": [
            {"role": "agent", "text": "嗯"}] * 51})
        assert r.status_code == 422 and "--max-context-turns" in r.json()["message"]
        r = c.post("/v1/score", json={"turns": [{"role": "agent", "text": "嗯"}] * 2001})
        assert r.status_code == 422 and "--max-turns" in r.json()["message"]
        r = c.post("/v1/nothing", json={})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = c.get("/v1/check")
        assert r.status_code == 405


def test_errors_never_echo_the_input(plain: Server) -> None:
    secret = "客户身份证号码11010519491231002X请勿外传"
    with plain.client() as c:
        for body in ({"text": secret, "role": "nobody"}, {"text": [secret]},
                     {"text": secret * 300}, {"text": "x", "context": [{"text": secret}]}):
            r = c.post("/v1/check", json=body)
            assert r.status_code == 422
            assert secret not in r.text and "Traceback" not in r.text
    assert secret not in plain.log()


class _Boom:
    """A model that fails the way a bug would, with the message text in its error."""

    def predict(self, texts: list[str]) -> list[Any]:
        if texts and "请勿外传" in texts[0]:  # warm-up passes
            raise RuntimeError(f"internal failure on {texts[0]}")
        from phrasecheck.types import ToneResult

        return [ToneResult("ok", {"ok": 1.0}) for _ in texts]


def test_an_internal_error_is_a_500_without_stack_trace(
        caplog: pytest.LogCaptureFixture) -> None:
    """In process (a real server cannot be made to fail on purpose): the client gets a bare
    500 with the request id; the log gets the stack but not the message text."""
    import asyncio

    from phrasecheck.serve import ServeConfig, create_app
    from phrasecheck.serve.logs import JsonFormatter

    secret = "请勿外传的内容"
    app = create_app(ServeConfig(), analyzer=Analyzer(model=_Boom()))
    app.state.service.load()  # what the lifespan's loading thread does
    assert app.state.service.ready

    async def call() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.post("/v1/check", json={"text": secret},
                                headers={"X-Request-ID": "r-500"})

    with caplog.at_level("ERROR", logger="phrasecheck.serve"):
        r = asyncio.run(call())
    assert r.status_code == 500
    assert r.json() == {"error": "internal", "message": r.json()["message"],
                        "request_id": "r-500"}
    assert "Traceback" not in r.text and secret not in r.text and "RuntimeError" not in r.text
    (rec,) = [x for x in caplog.records if x.getMessage() == "unhandled error"]
    line = json.loads(JsonFormatter().format(rec))
    assert line["error"] == "RuntimeError" and "predict" in line["stack"]
    assert secret not in json.dumps(line, ensure_ascii=False)
    assert secret in JsonFormatter(log_text=True).format(rec)


_H2C = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
        "HTTP2-Settings": "AAMAAABkAAQAoAAAAAIAAAAA"}


def test_an_h2c_upgrade_request_is_read_with_h11_and_explained_with_httptools(
        servers: dict[str, Server]) -> None:
    """Java's default HttpClient and ``curl --http2`` ask for an HTTP/2 cleartext upgrade on
    their first request; httptools then drops the body."""
    body = {"text": "不知道，你自己去问吧"}
    with servers["chatty"].client() as c:  # --http h11
        r = c.post("/v1/check", json=body, headers=_H2C)
        assert r.status_code == 200 and r.json()["findings"]
    with servers["plain"].client() as c:  # httptools, the default
        r = c.post("/v1/check", json=body, headers=_H2C)
        if r.status_code != 200:  # a future httptools may read it
            assert r.status_code == 422
            assert "HttpClient.Version.HTTP_1_1" in r.json()["message"]
            assert "--http h11" in r.json()["message"]


def test_missing_session(plain: Server) -> None:
    with plain.client() as c:
        for method, path, body in [
                ("POST", "/v1/sessions/nope/turns", {"role": "agent", "text": "您好"}),
                ("GET", "/v1/sessions/nope", None), ("GET", "/v1/sessions/nope/state", None),
                ("POST", "/v1/sessions/nope/finalize", None),
                ("DELETE", "/v1/sessions/nope", None)]:
            r = c.request(method, path, json=body)
            assert r.status_code == 404, (method, path)
            assert r.json()["error"] == "unknown_session"
            assert "'nope'" in r.json()["message"]


# ---------------------------------------------------------------------------------- auth


def test_auth_off_needs_no_key(plain: Server) -> None:
    with plain.client() as c:
        assert c.post("/v1/check", json={"text": "您好"}).status_code == 200
        assert c.get("/metrics").status_code == 200


def test_auth_on(guarded: Server) -> None:
    with guarded.client() as c:
        r = c.post("/v1/check", json={"text": "您好"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/check", json={"text": "您好"},
                      headers={"Authorization": "Bearer wrong-key-0123456789"}
                      ).status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        # a key from the environment, as a bearer token or an X-API-Key header
        assert c.post("/v1/check", json={"text": "您好"},
                      headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.post("/v1/check", json={"text": "您好"},
                      headers={"X-API-Key": KEY}).status_code == 200
        # a key from --api-key-file
        assert c.post("/v1/check", json={"text": "您好"},
                      headers={"X-API-Key": OTHER_KEY}).status_code == 200
        # the body limit holds before authentication too
        r = c.post("/v1/check", content=b"x" * 2_000_000,
                   headers={"content-type": "application/json"})
        assert r.status_code in (401, 413)


# ------------------------------------------------------------------- metrics and logs


def test_metrics(plain: Server) -> None:
    with plain.client() as c:
        c.post("/v1/check", json={"text": "这个不归我们管，有本事你去投诉"})
        c.post("/v1/check", json={"text": "您好", "role": "agnet"})
        text = c.get("/metrics").text
    assert "# TYPE phrasecheck_http_requests_total counter" in text
    assert 'phrasecheck_http_requests_total{method="POST",route="/v1/check",status="200"}' \
        in text
    assert 'route="/v1/check",status="422"' in text
    assert 'phrasecheck_http_request_duration_seconds_bucket{le="0.01",route="/v1/check"}' \
        in text
    assert 'phrasecheck_findings_total{category="threat",rule="banned_phrases"}' in text
    assert 'phrasecheck_findings_total{category="threat",rule="abusive_language"}' in text
    assert 'phrasecheck_alerts_total{kind="veto",rule="abusive_language",severity="critical"}' \
        in text
    assert "phrasecheck_sessions_open" in text and "phrasecheck_ready 1.0" in text
    assert "phrasecheck_rule_results_total" in text


def test_metrics_add_up_both_workers(servers: dict[str, Server]) -> None:
    pair = servers["pair"]

    def count(text: str) -> float:
        line = next((ln for ln in text.splitlines() if ln.startswith(
            'phrasecheck_http_requests_total{method="POST",route="/v1/check",status="200"}')),
                    None)
        return 0.0 if line is None else float(line.rsplit(" ", 1)[1])

    with pair.client() as c:
        before = count(c.get("/metrics").text)
    pids = set()
    for _ in range(24):  # a new connection each time: both workers get some
        with pair.client() as c:
            assert c.post("/v1/check", json={"text": "您好"}).status_code == 200
    with pair.client() as c:
        after = count(c.get("/metrics").text)
    assert after - before == 24
    for line in pair.log().splitlines():
        rec = json.loads(line)
        if rec.get("event") == "ready":
            pids.add(rec["pid"])
    assert len(pids) == 2, "two workers should have loaded"


def test_logs_are_json_lines_without_message_text(plain: Server) -> None:
    marker = "日志里不应出现的这句话"
    with plain.client() as c:
        r = c.post("/v1/check", json={"text": marker}, headers={"X-Request-ID": "req-42.a_b"})
        assert r.headers["x-request-id"] == "req-42.a_b"
        r2 = c.post("/v1/check", json={"text": marker})
        assert len(r2.headers["x-request-id"]) == 32
    log = plain.log()
    records = [json.loads(line) for line in log.splitlines()]
    assert all({"ts", "level", "logger", "event"} <= set(r) for r in records)
    access = [r for r in records if r["logger"] == "phrasecheck.serve.access"]
    assert any(r["request_id"] == "req-42.a_b" and r["status"] == 200
               and r["route"] == "/v1/check" for r in access)
    assert marker not in log


def test_log_text_puts_message_text_in_the_logs(servers: dict[str, Server]) -> None:
    chatty = servers["chatty"]
    marker = "这句话应当出现在日志里"
    with chatty.client() as c:
        assert c.post("/v1/check", json={"text": marker}).status_code == 200
    msgs = [json.loads(line) for line in chatty.log().splitlines()]
    assert any(r.get("event") == "message" and r.get("text") == marker for r in msgs)


# ------------------------------------------------------------------------ CLI and shutdown


def test_cli_usage_errors_before_serving(tmp_path: Path) -> None:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "phrasecheck.cli", "serve", *args],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, **(env or {})})

    r = run("--policy", "bnak")
    assert r.returncode == 2 and "bnak" in r.stderr and "bank" in r.stderr
    r = run("--model", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "no such model file" in r.stderr
    r = run("--port", "1", env={"PHRASECHECK_API_KEYS": "short"})
    assert r.returncode == 2 and "shorter than 16" in r.stderr


def test_graceful_shutdown_finishes_in_flight_requests(servers: dict[str, Server],
                                                       analyzer: Analyzer,
                                                       demo: list[Conversation]) -> None:
    """SIGTERM while a long conversation is being scored: the response still arrives, then
    the process exits and stops listening."""
    chatty = servers["chatty"]
    turns = [t for c in demo for t in _turns(_no_lines(c))]
    turns = (turns * (12000 // len(turns) + 1))[:12000]
    result: dict[str, Any] = {}

    def long_score() -> None:
        with chatty.client() as c:
            result["response"] = c.post("/v1/score", json={"id": "long", "turns": turns})

    worker = threading.Thread(target=long_score)
    worker.start()
    with chatty.client() as c:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = c.get("/metrics").text
            line = next(ln for ln in text.splitlines()
                        if ln.startswith("phrasecheck_http_requests_in_flight "))
            if float(line.split()[1]) >= 2:  # the score and this scrape
                break
            time.sleep(0.01)
        else:
            pytest.fail("the long score never showed as in flight")
    chatty.proc.send_signal(signal.SIGTERM)
    worker.join(120)
    r = result["response"]
    assert r.status_code == 200
    assert r.json()["id"] == "long" and len(r.json()["rule_results"]) > 0
    # uvicorn exits by the signal it stopped for, once it has shut down cleanly
    assert chatty.proc.wait(60) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError), chatty.client() as c:
        c.get("/healthz")
    log = chatty.log()
    assert '"stopped"' in log
