"""A small client for Prometheus' HTTP API: instant queries (`GET /api/v1/query`).

PromQL auto-declaration rules ask it for the series their expression returns at a given
time. Every failure — unreachable server, timeout, HTTP error, a query Prometheus refuses,
an answer that is not an instant vector — is a `PrometheusError` with a readable message,
so the evaluation job logs it and tries again later instead of crashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


class PrometheusError(Exception):
    """The query did not produce a usable answer. `unreachable` when no answer came at all
    (connection refused, timeout): other queries would fail the same way just now."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value at the query time."""

    labels: dict[str, str]
    value: float


class PrometheusClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def query(self, expr: str, *, at: datetime) -> list[Sample]:
        """Evaluate `expr` at `at`; return the series of the instant vector."""
        params = {"query": expr, "time": f"{at.timestamp():.3f}"}
        try:
            response = self._client.get("/api/v1/query", params=params)
        except httpx.TimeoutException as exc:
            raise PrometheusError(
                f"{self.base_url}: no answer in time ({exc})", unreachable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise PrometheusError(
                f"{self.base_url}: unreachable ({exc})", unreachable=True
            ) from exc
        try:
            body: Any = response.json()
        except ValueError:
            raise PrometheusError(
                f"{self.base_url}: HTTP {response.status_code} with a body that is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise PrometheusError(f"{self.base_url}: the answer is not a JSON object")
        if body.get("status") != "success":
            kind = body.get("errorType", f"HTTP {response.status_code}")
            raise PrometheusError(f"{self.base_url}: {kind}: {body.get('error', 'query failed')}")
        return parse_vector(body.get("data"))


def parse_vector(data: Any) -> list[Sample]:
    """The `data` of a successful instant query, as samples."""
    if not isinstance(data, dict):
        raise PrometheusError("the answer has no data")
    kind = data.get("resultType")
    if kind != "vector":
        raise PrometheusError(
            f"the query returned a {kind}; an auto-declaration rule needs an instant vector "
            "(a comparison such as `... > 10` that returns the series for which it holds)"
        )
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusError("the vector has no result list")
    samples: list[Sample] = []
    for item in result:
        if not isinstance(item, dict):
            raise PrometheusError("a series of the vector is not an object")
        metric, pair = item.get("metric") or {}, item.get("value")
        if not isinstance(metric, dict) or not isinstance(pair, list) or len(pair) != 2:
            raise PrometheusError("a series of the vector has no metric or value")
        try:
            value = float(pair[1])
        except (TypeError, ValueError):
            raise PrometheusError(
                f"a series has a value that is not a number: {pair[1]!r}"
            ) from None
        samples.append(Sample({str(k): str(v) for k, v in metric.items()}, value))
    return samples


def printable(value: float) -> float | str:
    """A sample value fit for JSON: NaN and infinities as Prometheus writes them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value
