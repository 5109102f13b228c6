"""Alerts that trigger the loop: Alertmanager webhook payloads (version 4) and a small generic form.

An alert is a hint, never an instruction: it tells the loop where to look and that a
problem there is already confirmed (so the loop need not wait for its own
debounce). What to do is still decided from the cluster.

What a real Alertmanager sends is accepted, not refused: annotations longer than
:data:`ANNOTATION_MAX_CHARS` are cut (with a marker saying how much), and a
notification of more than ``max_alerts`` alerts keeps that many (one firing alert of
every (namespace, alertname) first, then firing before resolved, in order) and counts
the rest in ``truncatedAlerts``, as Alertmanager's own ``max_alerts`` does. Labels are
identity and are never cut: one longer than :data:`LABEL_MAX_CHARS` is refused, named.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

from apps.k8s.scenario_checks import value_kind
from apps.selfheal.exceptions import InvalidAlertError

LABEL_MAX_CHARS = 4096  # a label value (labels are identity: longer ones are refused, named)
NAME_MAX_CHARS = 1024  # a label or annotation name
ANNOTATION_MAX_CHARS = 16384  # longer annotations (and generic summaries) are cut to this
MAX_ALERTS = 1000  # alerts of one notification acted on by default; the rest are counted


class _Struct(msgspec.Struct, frozen=True, kw_only=True):
    pass


class AlertmanagerAlert(_Struct, frozen=True, kw_only=True):
    """One alert of an Alertmanager notification."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerPayload(_Struct, frozen=True, kw_only=True):
    """Alertmanager's webhook body, version 4 (prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: Annotated[list[AlertmanagerAlert], msgspec.Meta(min_length=1)]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""


class GenericAlert(_Struct, frozen=True, kw_only=True):
    """A small alert any tool can send: ``{"alertname": ..., "namespace": ..., "severity": ...}``.

    Its identity is ``fingerprint`` (else alertname, namespace, severity and labels) plus
    ``startsAt`` when given; without ``startsAt`` the receiver treats a repeat within a short
    window as the same occurrence.
    """

    alertname: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    namespace: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    severity: Literal["info", "warning", "critical"] = "warning"
    summary: str = ""
    labels: dict[str, str] = {}
    fingerprint: Annotated[str, msgspec.Meta(max_length=256)] = ""
    startsAt: Annotated[str, msgspec.Meta(max_length=64)] = ""


class AlertHint(_Struct, frozen=True, kw_only=True):
    """What the loop takes from an alert: where to look and what fired."""

    source: str
    namespaces: list[str]
    alertnames: list[str]
    firing: int
    summary: str
    group_key: str = ""  # the same for every notification of the same alert group
    resolved: int = 0
    alert_keys: list[str] = []  # one identity per firing alert (labels or fingerprint + start)
    keyed_by_start: bool = True  # False: a generic alert without startsAt (no start in its keys)
    dropped: int = 0  # alerts past the cap, left out (and added to truncatedAlerts)
    truncated: int = 0  # annotations cut to ANNOTATION_MAX_CHARS


class ValidAlert(NamedTuple):
    """A validated alert: its hint and the payload to pass on (annotations cut, extra alerts dropped)."""

    hint: AlertHint
    payload: dict[str, Any]


def _json_type(value: object) -> str:
    return value_kind(value, json=True)


def validate_alert(value: object, max_alerts: int = MAX_ALERTS) -> ValidAlert:
    """Validate an already decoded alert (a JSON object) of either form.

    Raises:
        InvalidAlertError: not a JSON object, or it fits neither form; the message names
            the field (for a label, which alert and which label).
    """
    if not isinstance(value, Mapping):
        raise InvalidAlertError(
            f"the alert must be a JSON object, got {_json_type(value)} (expected an "
            "Alertmanager notification or a generic alert)"
        )
    raw = dict(value)
    if "alerts" in raw or "version" in raw:
        return _alertmanager(raw, max_alerts)
    return _generic(raw)


def _named(raw: Mapping[str, Any], err: msgspec.ValidationError) -> str:
    """msgspec's message, with the label or annotation named when it could only say ``[...]``."""
    if "[...]" not in str(err):
        return str(err)
    places: list[tuple[str, object]] = [
        (f, raw.get(f)) for f in ("labels", "groupLabels", "commonLabels", "commonAnnotations")
    ]
    alerts = raw.get("alerts")
    for i, a in enumerate(alerts if isinstance(alerts, list) else []):
        if isinstance(a, Mapping):
            places += [(f"alerts[{i}].{f}", a.get(f)) for f in ("labels", "annotations")]
    for where, entries in places:
        for name, text in entries.items() if isinstance(entries, Mapping) else ():
            if not isinstance(text, str):
                return f"{where}.{name} must be a string, got {_json_type(text)}"
    return str(err)


def _check_name(where: str, what: str, name: str) -> None:
    if len(name) > NAME_MAX_CHARS:
        raise InvalidAlertError(
            f"{where} has {what} name of {len(name)} characters "
            f"(starting {name[:40]!r}), more than {NAME_MAX_CHARS}"
        )


def _check_labels(where: str, labels: Mapping[str, str]) -> None:
    for name, text in labels.items():
        _check_name(where, "a label", name)
        if len(text) > LABEL_MAX_CHARS:
            raise InvalidAlertError(
                f"{where}.{name} is {len(text)} characters long, more than {LABEL_MAX_CHARS} "
                "(labels are the alert's identity and are not cut)"
            )


def _cut(where: str, annotations: Mapping[str, str]) -> tuple[dict[str, str] | None, int]:
    """The annotations with over-long values cut (None when none was) and how many were."""
    out: dict[str, str] | None = None
    count = 0
    for name, text in annotations.items():
        _check_name(where, "an annotation", name)
        if len(text) > ANNOTATION_MAX_CHARS:
            out = dict(annotations) if out is None else out
            out[name] = _cut_text(text)
            count += 1
    return out, count


def _cut_text(text: str) -> str:
    return f"{text[:ANNOTATION_MAX_CHARS]}… [{len(text) - ANNOTATION_MAX_CHARS} characters cut]"


def _keep(alerts: list[AlertmanagerAlert], common_ns: str, cap: int) -> list[int]:
    """Indices of the alerts kept under ``cap``: one firing alert per (namespace, alertname)
    first, then firing before resolved, each in order."""
    if len(alerts) <= cap:
        return list(range(len(alerts)))
    firing = [i for i, a in enumerate(alerts) if a.status == "firing"]
    resolved = [i for i, a in enumerate(alerts) if a.status != "firing"]
    kept: set[int] = set()
    covered: set[tuple[str, str]] = set()
    for i in firing:
        labels = alerts[i].labels
        key = (labels.get("namespace") or common_ns, labels.get("alertname", ""))
        if key not in covered and len(kept) < cap:
            covered.add(key)
            kept.add(i)
    for i in firing + resolved:
        if len(kept) >= cap:
            break
        kept.add(i)
    return sorted(kept)


def _alertmanager(raw: dict[str, Any], max_alerts: int) -> ValidAlert:
    try:
        am = msgspec.convert(raw, type=AlertmanagerPayload)
    except msgspec.ValidationError as err:
        raise InvalidAlertError(f"invalid Alertmanager payload: {_named(raw, err)}") from err
    for field in ("groupLabels", "commonLabels"):
        _check_labels(field, getattr(am, field))
    common_ns = am.commonLabels.get("namespace", "")
    for i, a in enumerate(am.alerts):
        _check_labels(f"alerts[{i}].labels", a.labels)
        if a.status == "firing" and not a.labels.get("namespace") and not common_ns:
            raise InvalidAlertError(
                f"invalid Alertmanager payload: alerts[{i}].labels.namespace is missing"
            )
    kept = _keep(am.alerts, common_ns, max_alerts)
    dropped = len(am.alerts) - len(kept)
    raw_alerts = raw["alerts"]
    out_alerts: list[Any] = []
    truncated = 0
    for i in kept:
        cut, count = _cut(f"alerts[{i}].annotations", am.alerts[i].annotations)
        truncated += count
        out_alerts.append(raw_alerts[i] if cut is None else {**raw_alerts[i], "annotations": cut})
    common, count = _cut("commonAnnotations", am.commonAnnotations)
    truncated += count
    payload = raw
    if dropped or truncated or common is not None:
        payload = {**raw, "alerts": out_alerts}
        if dropped:
            payload["truncatedAlerts"] = am.truncatedAlerts + dropped
        if common is not None:
            payload["commonAnnotations"] = common
    alerts = [am.alerts[i] for i in kept]
    firing = [a for a in alerts if a.status == "firing"]
    namespaces = sorted({a.labels.get("namespace") or common_ns for a in firing} - {""})
    names = sorted({a.labels.get("alertname", "") for a in firing} - {""})
    summary = (common or am.commonAnnotations).get("summary", "")
    if not summary and firing:
        summary = firing[0].annotations.get("summary", "")
        summary = _cut_text(summary) if len(summary) > ANNOTATION_MAX_CHARS else summary
    keys = sorted({alert_key(a) for a in firing})
    group = [am.receiver, am.groupKey] if am.groupKey else keys
    hint = AlertHint(
        source="alertmanager",
        namespaces=namespaces,
        alertnames=names,
        firing=len(firing),
        summary=summary,
        group_key=_digest(group),
        resolved=len(alerts) - len(firing),
        alert_keys=keys,
        dropped=dropped,
        truncated=truncated,
    )
    return ValidAlert(hint, payload)


def alert_key(alert: AlertmanagerAlert) -> str:
    """An Alertmanager alert's identity: its fingerprint (else its labels) and its start time.

    The same alert re-sent (repeat interval, a group update) has the same key; the same
    labels firing again after a resolve start anew, so they get a new one.
    """
    ident: object = alert.fingerprint or sorted(alert.labels.items())
    return _digest(["alertmanager", ident, alert.startsAt])


def _generic(raw: dict[str, Any]) -> ValidAlert:
    try:
        g = msgspec.convert(raw, type=GenericAlert)
    except msgspec.ValidationError as err:
        raise InvalidAlertError(f"invalid generic alert: {_named(raw, err)}") from err
    _check_labels("labels", g.labels)
    payload, summary, truncated = raw, g.summary, 0
    if len(g.summary) > ANNOTATION_MAX_CHARS:
        summary, truncated = _cut_text(g.summary), 1
        payload = {**raw, "summary": summary}
    ident: object = g.fingerprint or [
        g.alertname,
        g.namespace,
        g.severity,
        sorted(g.labels.items()),
    ]
    key = _digest(["generic", ident, g.startsAt])
    hint = AlertHint(
        source="generic",
        namespaces=[g.namespace],
        alertnames=[g.alertname],
        firing=1,
        summary=summary,
        group_key=key,
        alert_keys=[key],
        keyed_by_start=bool(g.startsAt),
        truncated=truncated,
    )
    return ValidAlert(hint, payload)


def parse_alert(data: bytes | str | Mapping[str, Any]) -> AlertHint:
    """Validate an Alertmanager (version 4) or generic alert and return its hint.

    ``data`` is JSON text (bytes or str) or an already decoded mapping.

    Raises:
        InvalidAlertError: the payload fits neither form; the message names the field.
    """
    return validate_alert(_decode(data)).hint


def _decode(data: object) -> object:
    if not isinstance(data, bytes | str):
        return data
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        raise InvalidAlertError(f"alert is not valid JSON: {err}") from err
    except RecursionError as err:
        raise InvalidAlertError("alert is not valid JSON: it nests too deeply") from err


def _digest(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def validate_alert_as(
    kind: Literal["alertmanager", "generic"], value: object, max_alerts: int = MAX_ALERTS
) -> ValidAlert:
    """Like :func:`validate_alert`, but the payload must be of the given form."""
    alert = validate_alert(value, max_alerts)
    if alert.hint.source != kind:
        raise InvalidAlertError(f"expected an {kind} payload, got a {alert.hint.source} one")
    return alert


def parse_alert_as(
    kind: Literal["alertmanager", "generic"], data: bytes | str | Mapping[str, Any]
) -> AlertHint:
    """Like :func:`parse_alert`, but the payload must be of the given form."""
    return validate_alert_as(kind, _decode(data)).hint
