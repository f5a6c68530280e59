"""The MetricsSource backed by Prometheus: the only module importing ``prometheus_api_client``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests import RequestException
from urllib3.util.retry import Retry

from control_plane.errors import PermanentError, TemporaryError
from control_plane.interfaces import Sample


@dataclass(frozen=True)
class Series:
    """One range series: its labels and (unix seconds, value) points; NaN points are dropped."""

    labels: Mapping[str, str]
    points: list[tuple[float, float]]


def _value(raw: object) -> float:
    try:
        v = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v


class PrometheusMetrics:
    """Instant and range PromQL queries; network failures become TemporaryError, bad queries PermanentError."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._prom = PrometheusConnect(url=self.url, disable_ssl=True, timeout=math.ceil(timeout),
                                       retry=Retry(total=1, backoff_factor=0.1))
        self._timeout = timeout

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except RequestException as exc:
            raise TemporaryError(f"Prometheus at {self.url} is unreachable: {exc}", delay=2.0) from exc
        except PrometheusApiClientException as exc:
            message = str(exc)
            if "bad_data" in message or "parse error" in message:
                raise PermanentError(f"Prometheus rejected the query: {message}") from exc
            raise TemporaryError(f"Prometheus query failed: {message}", delay=2.0) from exc

    def instant(self, promql: str, at: datetime | None = None) -> list[Sample]:
        params = {"timeout": f"{self._timeout:g}s"}
        if at is not None:
            params["time"] = str(at.timestamp())
        result = self._call(self._prom.custom_query, promql, params=params)
        out: list[Sample] = []
        for item in result or []:
            ts, raw = item.get("value", (0, "NaN"))
            out.append(Sample(labels=dict(item.get("metric", {})), value=_value(raw),
                              at=datetime.fromtimestamp(float(ts), tz=UTC)))
        return out

    def range_query(self, promql: str, start: datetime, end: datetime, step_s: float) -> list[Series]:
        result = self._call(self._prom.custom_query_range, promql, start_time=start, end_time=end,
                            step=f"{step_s:g}s", params={"timeout": f"{self._timeout:g}s"})
        out: list[Series] = []
        for item in result or []:
            points = [(float(ts), _value(v)) for ts, v in item.get("values", [])]
            out.append(Series(labels=dict(item.get("metric", {})),
                              points=[(t, v) for t, v in points if not math.isnan(v) and not math.isinf(v)]))
        return out

    def healthy(self) -> bool:
        try:
            return bool(self._prom.check_prometheus_connection())
        except (RequestException, PrometheusApiClientException, ValueError):  # "not healthy", never a raise
            return False
