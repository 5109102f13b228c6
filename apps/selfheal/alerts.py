"""Alerts that trigger the loop: Alertmanager webhook payloads (version 4) and a small generic form.

An alert is a hint, never an instruction: it tells the loop where to look and that a
problem there is already confirmed (so the loop need not wait for its own
debounce). What to do is still decided from the cluster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from apps.selfheal.exceptions import InvalidAlertError

Label = Annotated[str, msgspec.Meta(max_length=1024)]


class _Struct(msgspec.Struct, frozen=True, kw_only=True):
    pass


class AlertmanagerAlert(_Struct, frozen=True, kw_only=True):
    """One alert of an Alertmanager notification."""

    status: Literal["firing", "resolved"]
    labels: dict[str, Label]
    annotations: dict[str, Label] = {}
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerPayload(_Struct, frozen=True, kw_only=True):
    """Alertmanager's webhook body, version 4 (prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: Annotated[list[AlertmanagerAlert], msgspec.Meta(min_length=1, max_length=1000)]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0
    groupLabels: dict[str, Label] = {}
    commonLabels: dict[str, Label] = {}
    commonAnnotations: dict[str, Label] = {}
    externalURL: str = ""


class GenericAlert(_Struct, frozen=True, kw_only=True):
    """A small alert any tool can send: ``{"alertname": ..., "namespace": ..., "severity": ...}``."""

    alertname: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    namespace: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    severity: Literal["info", "warning", "critical"] = "warning"
    summary: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    labels: dict[str, Label] = {}
    fingerprint: Annotated[str, msgspec.Meta(max_length=256)] = ""
    startsAt: str = ""


class AlertHint(_Struct, frozen=True, kw_only=True):
    """What the loop takes from an alert: where to look and what fired."""

    source: str
    namespaces: list[str]
    alertnames: list[str]
    firing: int
    summary: str
    group_key: str = ""  # the same for every re-send of the same alerts
    resolved: int = 0


def parse_alert(data: bytes | str | Mapping[str, Any]) -> AlertHint:
    """Validate an Alertmanager (version 4) or generic alert and return its hint.

    Raises:
        InvalidAlertError: the payload fits neither form; the message names the field.
    """
    try:
        raw = msgspec.json.decode(data) if isinstance(data, bytes | str) else dict(data)
    except msgspec.DecodeError as err:
        raise InvalidAlertError(f"alert is not valid JSON: {err}") from err
    if not isinstance(raw, dict):
        raise InvalidAlertError("alert must be a JSON object")
    if "alerts" in raw or "version" in raw:
        try:
            am = msgspec.convert(raw, type=AlertmanagerPayload)
        except msgspec.ValidationError as err:
            raise InvalidAlertError(f"invalid Alertmanager payload: {err}") from err
        firing = [a for a in am.alerts if a.status == "firing"]
        missing = [i for i, a in enumerate(firing) if not a.labels.get("namespace")]
        if missing and not am.commonLabels.get("namespace"):
            raise InvalidAlertError(
                f"invalid Alertmanager payload: alerts[{missing[0]}].labels.namespace is missing"
            )
        namespaces = sorted(
            {a.labels.get("namespace") or am.commonLabels.get("namespace", "") for a in firing}
            - {""}
        )
        names = sorted({a.labels.get("alertname", "") for a in firing} - {""})
        summary = am.commonAnnotations.get("summary") or (
            firing[0].annotations.get("summary", "") if firing else ""
        )
        group = sorted(f"{a.fingerprint or sorted(a.labels.items())}@{a.startsAt}" for a in firing)
        return AlertHint(
            source="alertmanager",
            namespaces=namespaces,
            alertnames=names,
            firing=len(firing),
            summary=summary,
            group_key=_digest(group),
            resolved=len(am.alerts) - len(firing),
        )
    try:
        g = msgspec.convert(raw, type=GenericAlert)
    except msgspec.ValidationError as err:
        raise InvalidAlertError(f"invalid generic alert: {err}") from err
    ident = g.fingerprint or [g.alertname, g.namespace, sorted(g.labels.items()), g.summary]
    return AlertHint(
        source="generic",
        namespaces=[g.namespace],
        alertnames=[g.alertname],
        firing=1,
        summary=g.summary,
        group_key=_digest([ident, g.startsAt]),
    )


def _digest(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def parse_alert_as(
    kind: Literal["alertmanager", "generic"], data: bytes | str | Mapping[str, Any]
) -> AlertHint:
    """Like :func:`parse_alert`, but the payload must be of the given form."""
    hint = parse_alert(data)
    if hint.source != kind:
        raise InvalidAlertError(f"expected an {kind} payload, got a {hint.source} one")
    return hint
