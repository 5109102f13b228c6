"""Service golden signals of a real cluster from Prometheus' HTTP query API."""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from apps.k8s.cluster import ServiceMetrics
from apps.k8s.exceptions import ApiTimeoutError, ApiUnavailableError, InvalidObjectError

# PromQL over the conventional http_requests_total / http_request_duration_seconds metrics,
# labelled with namespace and service (as kube-prometheus relabels them); NS is a matcher.
RATE_QUERY = "sum by (namespace, service) (rate(http_requests_total{NS}[1m]))"
ERROR_QUERY = 'sum by (namespace, service) (rate(http_requests_total{NS,code=~"5.."}[1m]))'
LATENCY_QUERY = (
    "histogram_quantile(Q, sum by (namespace, service, le) "
    "(rate(http_request_duration_seconds_bucket{NS}[5m])))"
)


class PrometheusMetrics:
    """Runs the three golden-signal queries and joins them per Service."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query; the ``result`` vector of the answer."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                body = json.loads(resp.read())
        except TimeoutError as err:
            raise ApiTimeoutError(f"Prometheus query timed out after {self.timeout_s}s") from err
        except urllib.error.HTTPError as err:
            if err.code >= 500 or err.code == 429:
                raise ApiUnavailableError(f"Prometheus answered {err.code}") from err
            raise InvalidObjectError(
                f"Prometheus rejected the query ({err.code}): {promql}"
            ) from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError | socket.timeout):
                raise ApiTimeoutError(
                    f"Prometheus query timed out after {self.timeout_s}s"
                ) from err
            raise ApiUnavailableError(f"Prometheus unreachable: {err.reason}") from err
        except json.JSONDecodeError as err:
            raise ApiUnavailableError("Prometheus answered with invalid JSON") from err
        if body.get("status") != "success":
            raise InvalidObjectError(f"Prometheus query failed: {body.get('error')}")
        result: list[dict[str, Any]] = body.get("data", {}).get("result", [])
        return result

    def _by_service(self, promql: str) -> dict[tuple[str, str], float]:
        out = {}
        for sample in self.query(promql):
            labels = sample.get("metric", {})
            value = float(sample.get("value", [0, "NaN"])[1])
            if "namespace" in labels and "service" in labels and math.isfinite(value):
                out[(labels["namespace"], labels["service"])] = value
        return out

    def service_metrics(self, namespace: str | None = None) -> list[ServiceMetrics]:
        """Request rate, error rate and p50/p99 latency of every Service Prometheus knows."""
        ns = f'namespace="{namespace}"' if namespace else 'namespace=~".+"'
        rate = self._by_service(RATE_QUERY.replace("NS", ns))
        errors = self._by_service(ERROR_QUERY.replace("NS", ns))
        p50 = self._by_service(LATENCY_QUERY.replace("Q", "0.5").replace("NS", ns))
        p99 = self._by_service(LATENCY_QUERY.replace("Q", "0.99").replace("NS", ns))
        out = []
        for key in sorted(rate):
            rps = rate[key]
            out.append(
                ServiceMetrics(
                    namespace=key[0],
                    service=key[1],
                    request_rate_rps=rps,
                    error_rate=errors.get(key, 0.0) / rps if rps > 0 else 0.0,
                    latency_p50_ms=p50.get(key, 0.0) * 1000.0,
                    latency_p99_ms=p99.get(key, 0.0) * 1000.0,
                )
            )
        return out
