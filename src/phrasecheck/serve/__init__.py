"""``phrasecheck serve``: phrasecheck as an HTTP service for chat backends in any language.

Built on FastAPI (typed request and response models, from which the OpenAPI schema at
``/openapi.json`` is generated, so Java, Go or Node clients can be generated rather than
written) served by uvicorn (the reference ASGI server, with uvloop and httptools; several
worker processes with ``--workers``, graceful shutdown on SIGTERM). Needs the ``serve`` extra:
``pip install 'phrasecheck[serve]'``.

Modules: :mod:`.config` (settings), :mod:`.schemas` (the API's types), :mod:`.sessions` (live
sessions, state tokens), :mod:`.metrics` (Prometheus), :mod:`.logs` (JSON logs),
:mod:`.app` (routes and middleware).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

from .config import CONFIG_ENV, ServeConfig

__all__ = ["HTTP_PARSERS", "ServeConfig", "create_app", "run"]


def create_app(config: ServeConfig | None = None, **kwargs: Any) -> Any:
    from .app import create_app as _create

    return _create(config, **kwargs)


#: HTTP/1.1 parsers uvicorn can use. httptools (C, llhttp) is the faster; h11 (pure Python)
#: also reads the body of a request that asks for an HTTP/2 cleartext upgrade (``Upgrade:
#: h2c``, sent by Java's default ``HttpClient`` and ``curl --http2``), which httptools drops.
HTTP_PARSERS = ("httptools", "h11")


def run(config: ServeConfig, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
        graceful_timeout: float = 30.0, http: str = "httptools") -> None:
    """Serve until SIGINT or SIGTERM; in-flight requests finish first (up to
    ``graceful_timeout`` seconds)."""
    if http not in HTTP_PARSERS:
        raise ValueError(f"unknown HTTP parser {http!r} (available: {', '.join(HTTP_PARSERS)})")
    import uvicorn

    from .logs import log_config

    os.environ[CONFIG_ENV] = config.to_json()
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # metrics of all workers, added up: each worker writes to this folder
        folder = tempfile.mkdtemp(prefix="phrasecheck-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    uvicorn.run("phrasecheck.serve.app:create_app_from_env", factory=True, host=host,
                port=port, workers=workers, log_config=log_config(config.log_level,
                                                                  config.log_text),
                access_log=False, server_header=False, proxy_headers=False,
                timeout_graceful_shutdown=int(graceful_timeout), lifespan="on", http=http)
