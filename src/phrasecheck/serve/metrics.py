"""Prometheus metrics: requests, latency, findings by rule, alerts, sessions.

prometheus_client is the reference client and knows how to add up several worker processes
(``PROMETHEUS_MULTIPROC_DIR``, set by ``phrasecheck serve --workers N`` for N > 1): each
worker writes its figures to a shared folder and ``/metrics`` adds them up, so a scrape
that reaches any worker sees the whole service.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _mp

from ..monitor import Alert
from ..policy import Policy
from ..types import Finding, RuleResult

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """One service's metrics (a registry of its own: several apps may live in one process)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # in multiprocess mode the values live in the shared folder: collect from there only
        reg = None if self.multiprocess else CollectorRegistry()
        self._registry = reg
        self.requests = Counter("phrasecheck_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=reg)
        self.latency = Histogram("phrasecheck_http_request_duration_seconds",
                                 "Time from request to the end of the response.", ["route"],
                                 buckets=_BUCKETS, registry=reg)
        self.in_flight = Gauge("phrasecheck_http_requests_in_flight",
                               "Requests being answered now.", registry=reg,
                               multiprocess_mode="livesum")
        self.findings = Counter("phrasecheck_findings",
                                "Findings reported, by the policy rule that judges them.",
                                ["rule", "category"], registry=reg)
        self.alerts = Counter("phrasecheck_alerts", "Live alerts raised.",
                              ["kind", "rule", "severity"], registry=reg)
        self.rule_results = Counter("phrasecheck_rule_results",
                                    "Rule outcomes of scored and finalized conversations.",
                                    ["rule", "outcome"], registry=reg)
        self.sessions_open = Gauge("phrasecheck_sessions_open", "Open live sessions.",
                                   registry=reg, multiprocess_mode="livesum")
        self.sessions_closed = Counter("phrasecheck_sessions_closed", "Sessions closed.",
                                       ["reason"], registry=reg)
        self.ready = Gauge("phrasecheck_ready", "1 once jieba and the models are loaded.",
                           registry=reg, multiprocess_mode="livemin")
        self._rules_of: dict[str, tuple[str, ...]] = {}
        self._tone_rules: dict[str, tuple[str, ...]] = {}

    def bind(self, policy: Policy) -> None:
        """Learn which rules judge which categories (for findings by rule)."""
        rules_of: dict[str, list[str]] = {}
        tone: dict[str, list[str]] = {}
        for r in policy.rules:
            if r.kind in ("require", "forbid"):
                for c in r.spec.get("categories", ()):
                    rules_of.setdefault(c, []).append(r.id)
            elif r.kind == "classifier":
                tone.setdefault(r.spec["label"], []).append(r.id)
        self._rules_of = {c: tuple(v) for c, v in rules_of.items()}
        self._tone_rules = {c: tuple(v) for c, v in tone.items()}

    def count_findings(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            table = self._tone_rules if f.source == "classifier" else self._rules_of
            for rule in table.get(f.category, ("none",)):
                self.findings.labels(rule, f.category).inc()

    def count_alerts(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            self.alerts.labels(a.kind, a.rule_id or "none", a.severity).inc()

    def count_results(self, results: Iterable[RuleResult]) -> None:
        for r in results:
            self.rule_results.labels(r.rule_id, r.outcome).inc()

    def render(self) -> bytes:
        if self.multiprocess:
            reg = CollectorRegistry()
            _mp.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
            return generate_latest(reg)
        assert self._registry is not None
        return generate_latest(self._registry)

    def set_sessions(self, n: int) -> None:
        self.sessions_open.set(n)

    def close_sessions(self, reasons: Mapping[str, int]) -> None:
        for reason, n in reasons.items():
            if n:
                self.sessions_closed.labels(reason).inc(n)
