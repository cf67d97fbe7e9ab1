"""Taking over Cloudpods' migration alerts: the monitor's ``GET /migrationalerts`` as rules here.

A listed alert keeps its numbers where the monitor's *list* puts them (the
create call's ``threshold`` / ``period`` are input only): the threshold in
``settings.conditions[0].evaluator.params[0]``, the period in
``settings.conditions[0].query.from`` (a Go duration; ``frequency`` in seconds
when that is missing), and the hosts and guests in ``customize_config``
(``source.host_ids``, ``source.guest_ids``, ``target.host_ids``: Cloudpods ids,
matched against the inventory's external ids).

Every rule is created through the rule service, in recommend mode, so it is
validated and logged like any other; an alert that cannot be mapped is
reported with why, and nothing of it is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from automigrate.engine.model import CPU, MEM
from automigrate.models import Guest, Host, MigrationRule
from automigrate.services import rules as rule_service

COMPARATORS = {CPU: "gt", MEM: "lt"}
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class ImportRow:
    alert_id: str
    alert_name: str
    metric_type: str
    rule: MigrationRule | None  # created, or None
    why: str  # what was created, or why not


def go_duration_seconds(text: str) -> float:
    """Go's ``time.ParseDuration`` subset Cloudpods writes: ``5m``, ``1h30m``, ``90s``."""
    text = str(text).strip()
    if not text or _GO_DURATION.sub("", text):
        raise ValueError(f"'{text}' is not a Go duration like 5m or 1h30m")
    return sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_DURATION.findall(text))


def rule_data(alert: dict) -> dict:
    """The rule-service input for one alert; ValueError (one line) if it cannot be mapped."""
    metric = alert.get("metric_type") or ""
    if metric not in COMPARATORS:
        raise ValueError(f"metric_type '{metric}' is not balanced here: only {CPU} and {MEM}")
    conditions = (alert.get("settings") or {}).get("conditions") or []
    condition = conditions[0] if conditions and isinstance(conditions[0], dict) else {}
    evaluator = condition.get("evaluator") or {}
    params = evaluator.get("params") or []
    if not params:
        # Cloudpods leaves out zero values: no params may also be a threshold of 0, which no rule can have.
        raise ValueError("no threshold in settings.conditions[0].evaluator.params")
    comparator = evaluator.get("type") or ""
    if comparator and comparator != COMPARATORS[metric]:
        raise ValueError(f"{metric} with evaluator '{comparator}': here {metric} only fires on"
                         f" '{COMPARATORS[metric]}'")
    period = (condition.get("query") or {}).get("from")
    seconds = go_duration_seconds(period) if period else float(alert.get("frequency") or 0)
    if not seconds:
        raise ValueError("no period in settings.conditions[0].query.from nor in frequency")
    config = alert.get("customize_config") or {}
    source, target = config.get("source") or {}, config.get("target") or {}
    threshold = params[0]
    if metric == MEM and isinstance(threshold, float) and threshold.is_integer():
        threshold = int(threshold)
    return {
        "name": str(alert.get("name") or alert.get("id")),
        "metric": metric,
        "threshold": threshold,
        "period": int(seconds) if float(seconds).is_integer() else seconds,
        "mode": MigrationRule.Mode.RECOMMEND,
        "enabled": bool(alert.get("enabled", False)),
        "source_hosts": _hosts(source.get("host_ids"), "source host"),
        "target_hosts": _hosts(target.get("host_ids"), "target host"),
        "source_guests": _guests(source.get("guest_ids")),
    }


def _hosts(ids, what: str) -> list[Host]:
    return _find(Host, ids, what)


def _guests(ids) -> list[Guest]:
    return _find(Guest, ids, "source guest", exclude_gone=True)


def _find(model, ids, what: str, exclude_gone: bool = False) -> list:
    ids = [str(i) for i in ids or []]
    rows = model.objects.filter(external_id__in=ids)
    if exclude_gone:
        rows = rows.exclude(status=Guest.Status.GONE)
    found = {obj.external_id: obj for obj in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValueError(f"{what} {', '.join(missing)} is not in the inventory: run `manage.py inventory sync`")
    return [found[i] for i in ids]


def import_alerts(alerts: list[dict], user=None) -> list[ImportRow]:
    """Create one recommend-mode rule per mappable alert; report every alert, created or not."""
    rows = []
    for alert in alerts:
        alert_id, name = str(alert.get("id") or ""), str(alert.get("name") or "")
        metric = str(alert.get("metric_type") or "")
        try:
            data = rule_data(alert)
            if MigrationRule.objects.filter(name=data["name"]).exists():
                raise ValueError(f"a rule named '{data['name']}' already exists (imported before?)")
            with transaction.atomic():
                rule = rule_service.create_rule(data, user)
        except ValueError as exc:
            rows.append(ImportRow(alert_id, name, metric, None, str(exc)))
        except ValidationError as exc:
            rows.append(ImportRow(alert_id, name, metric, None, "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            ) if hasattr(exc, "error_dict") else " ".join(exc.messages)))
        else:
            rows.append(ImportRow(alert_id, name, metric, rule, f"rule #{rule.pk}: {rule.describe()}"))
    return rows
