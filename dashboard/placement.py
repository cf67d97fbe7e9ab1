"""Dashboard context for placement groups, maintenance and migration windows (read-only; changes go to services)."""

from __future__ import annotations

from django.utils import timezone

from automigrate.models import Host, MigrationRule
from automigrate.services import placement as placement_service
from automigrate.services import windows as window_service


def overview_context() -> dict:
    """Window state, blackouts and current group violations, for the overview."""
    now = timezone.now()
    specs = placement_service.group_specs()
    return {
        "windows": window_service.overview(now),
        "violations": placement_service.current_violations(specs),
        "group_count": len(specs),
        "maintenance_hosts": list(Host.objects.filter(status=Host.Status.MAINTENANCE).values_list("pk", "name")),
    }


def host_context(host: Host) -> dict:
    now = timezone.now()
    specs = placement_service.group_specs()
    return {
        "blackout": window_service.state(None, now),
        "host_groups": [g for g in specs if host.name in g.hosts],
        "host_violations": [v for v in placement_service.current_violations(specs) if host.name in v.hosts],
    }


def rule_context(rule: MigrationRule) -> dict:
    now = timezone.now()
    gate = window_service.state(rule, now)
    return {
        "window": gate,
        "window_again": window_service.when_text(gate.until, now) if gate.until else "",
        "time_zone": window_service.cluster_tz().key,
    }
