"""What each page shows: context built from queries and charts, shared by the
HTML page and its live JSON endpoint so a refresh shows exactly what a reload would.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.utils import timezone

from automigrate import paging
from automigrate.engine.model import CPU, MEM
from automigrate.filters import EventFilter, MigrationFilter
from automigrate.models import Event, Host, Migration, MigrationRule
from automigrate.services import metrics, outside, series, status
from automigrate.services import rules as rule_service
from dashboard import charts, queries

HOSTS_PER_PAGE = 50
EVENTS_PER_PAGE = 50
MIGRATIONS_PER_PAGE = 50
RULES_PER_PAGE = 50
RULE_EVENTS = 15
HOST_EVENTS = 10
NAMES_SHOWN = 30


def _tolerating_source_errors(build: Callable[..., dict]) -> Callable[..., dict]:
    """A page whose metric source fails shows no numbers and a banner naming the source (never a 500)."""

    @wraps(build)
    def wrapped(*args, **kwargs) -> dict:
        with metrics.tolerating_source_errors() as problems:
            context = build(*args, **kwargs)
        context["source_problems"] = problems
        return context

    return wrapped


def _page(items, number, per_page):
    return Paginator(items, per_page).get_page(number)


def _lock_and_states(rules) -> tuple[dict, dict[int, str]]:
    """The lock and each rule's state from one read of the lock (status.rule_states would read it again)."""
    now = timezone.now()
    lock = status.lock_status(now)
    states = status.states_given_lock(rules, lock["rule_id"], lock["held"], now)
    return lock, states


@_tolerating_source_errors
def overview(params) -> dict:
    rows, watching = queries.host_rows()
    search = params.get("q", "").strip()
    table, sort = queries.sort_rows(queries.search_rows(rows, search), params.get("sort", queries.DEFAULT_SORT))
    now = timezone.now()
    inflight = queries.in_flight_migrations()
    return {
        "summary": {
            "hosts": len(rows),
            "hot": sum(row.hot for row in rows),
            "cpu_hot": sum(row.cpu_hot for row in rows),
            "mem_hot": sum(row.mem_hot for row in rows),
            "no_data": sum(row.no_data for row in rows),
            "settling": sum(row.settling for row in rows),
            "in_flight": queries.in_flight_count(),
            "rules": len(watching.rules),
        },
        "hosts_page": _page(table, params.get("page"), HOSTS_PER_PAGE),
        "search": search,
        "sort": sort,
        "inflight": [(m, queries.estimated_progress(m, now)) for m in inflight],
        "events": queries.latest_events(),
        "pending": _pending_list(watching.rules),
        "lock": status.lock_status(now),
        # Driver, metric-source or platform calls that timed out lately: the banner.
        "outside_timeouts": outside.recent_timeouts(now),
        "timeout_banner_minutes": f"{settings.AUTOMIGRATE['TIMEOUT_BANNER_MINUTES']:g}",
        "window_seconds": series.current_window_seconds(),
        "figures": {
            "chart-cpu": charts.hosts_bar(rows, CPU, watching),
            "chart-mem": charts.hosts_bar(rows, MEM, watching),
        },
    }


@_tolerating_source_errors
def host_detail(host: Host, range_key: str) -> dict:
    if range_key not in series.RANGES:
        range_key = series.DEFAULT_RANGE
    start, end = series.range_bounds(range_key)
    rules = queries.rules_watching(host)
    cpu = series.host_series(host.pk, CPU, start, end)
    mem = series.host_series(host.pk, MEM, start, end)
    migrations = queries.host_migrations(host, start, end)
    current = metrics.host_means(series.current_window_seconds(), end).get(host.pk, {})
    guests = queries.guest_rows(host, end)
    cpu_threshold, mem_threshold = queries.strictest(rules, CPU), queries.strictest(rules, MEM)
    return {
        "host": host,
        "range_key": range_key,
        "ranges": list(series.RANGES),
        "rules": rules,
        "cpu_now": current.get(CPU),
        "mem_now": current.get(MEM),
        "cpu_threshold": cpu_threshold,
        "mem_threshold": mem_threshold,
        "cpu_hot": queries.host_fires(current.get(CPU), CPU, cpu_threshold, host.cpu_count),
        "mem_hot": queries.host_fires(current.get(MEM), MEM, mem_threshold, host.cpu_count),
        "guests": guests,
        "cpu_score_total": sum(row.score or 0 for row in guests),
        "bucket_seconds": cpu.bucket_seconds,
        "points": max(len(cpu), len(mem)),
        "events": queries.latest_events(HOST_EVENTS, Q(source_host=host) | Q(target_host=host)),
        "figures": {"chart-host": charts.host_timeseries(host.pk, cpu, mem, rules, migrations, start, end)},
    }


def rule_list(params) -> dict:
    rules = list(
        MigrationRule.objects.annotate(
            source_count=Count("source_hosts", distinct=True),
            target_count=Count("target_hosts", distinct=True),
            guest_count=Count("source_guests", distinct=True),
        ).order_by("name")
    )
    lock, states = _lock_and_states(rules)
    page = _page(rules, params.get("page"), RULES_PER_PAGE)
    pending = queries.pending_by_rule(list(page))
    for rule in page:
        rule.state = states[rule.pk]
        rule.pending = pending.get(rule.pk)
    return {"rules_page": page, "lock": lock, "pending": _pending_list(list(page), pending)}


def _pending_list(rules: list[MigrationRule], pending: dict | None = None) -> list[tuple[MigrationRule, Event]]:
    """(rule, standing recommendation) for the rules that have one, by rule name."""
    pending = queries.pending_by_rule(rules) if pending is None else pending
    return [(rule, pending[rule.pk]) for rule in sorted(rules, key=lambda r: r.name) if rule.pk in pending]


@_tolerating_source_errors
def rule_detail(rule: MigrationRule) -> dict:
    # Whole lists in one query each (ids and names are small even at thousands of hosts); the
    # page shows the first few and a count.
    source_hosts = list(rule.source_hosts.order_by("name").values_list("id", "name"))
    target_hosts = list(rule.target_hosts.order_by("name").values_list("id", "name"))
    source_guests = list(rule.source_guests.order_by("name").values_list("name", flat=True))
    # The rule's own view of its hosts: the mean over its period, as the evaluator compares it.
    means = metrics.host_means(rule.period_seconds, timezone.now())
    watched = Host.objects.filter(pk__in=list(means))
    if source_hosts:
        watched = watched.filter(pk__in=[host_id for host_id, _ in source_hosts])
    # (name, mean, fires) per watched host with a value, fires by the engine's own trigger.
    bars = [
        (name, means[host_id][rule.metric],
         queries.host_fires(means[host_id][rule.metric], rule.metric, rule.threshold, cpu_count))
        for host_id, name, cpu_count in watched.values_list("id", "name", "cpu_count")
        if rule.metric in means[host_id]
    ]
    lock, states = _lock_and_states([rule])
    return {
        "rule": rule,
        "created_by": rule_service.creator_name(rule),
        "state": states[rule.pk],
        "source_hosts": source_hosts[:NAMES_SHOWN],
        "source_hosts_count": len(source_hosts),
        "target_hosts": target_hosts[:NAMES_SHOWN],
        "target_hosts_count": len(target_hosts),
        "source_guests": source_guests[:NAMES_SHOWN],
        "source_guests_count": len(source_guests),
        "watched_count": len(bars),
        "firing_count": sum(fires for _, _, fires in bars),
        "events": queries.latest_events(RULE_EVENTS, rule_ref=rule.pk),
        "pending": queries.pending_recommendations(rule),
        "lock": lock,
        "figures": {"chart-rule": charts.rule_hosts_bar(rule, bars)},
    }


def event_log(params) -> dict:
    """Keyset pages (``?before=`` / ``?after=`` cursors) with an estimated total: page 10,000 costs what page 1 does."""
    queryset = Event.objects.select_related("rule", "guest", "source_host", "target_host").order_by("-time", "-id")
    event_filter = EventFilter(params, queryset=queryset)
    events = event_filter.qs if event_filter.is_valid() else queryset.none()
    cursor_error = None
    try:
        before = paging.decode_cursor(params["before"], "before") if params.get("before") else None
        after = paging.decode_cursor(params["after"], "after") if params.get("after") else None
    except paging.CursorError as exc:
        cursor_error, before, after, events = str(exc), None, None, queryset.none()
    return {
        "filter": event_filter,
        "events_page": paging.keyset_page(events, EVENTS_PER_PAGE, before=before, after=after),
        "cursor_error": cursor_error,
        "rules": MigrationRule.objects.order_by("name").values_list("id", "name"),
        "actions": Event.Action.choices,
        "filtered": any(params.get(name) for name in EventFilter.base_filters),
    }


def migration_list(params) -> dict:
    queryset = Migration.objects.select_related("guest", "source", "target", "rule").order_by("-requested_at", "-id")
    migration_filter = MigrationFilter(params, queryset=queryset)
    migrations = migration_filter.qs if migration_filter.is_valid() else queryset.none()
    counts = dict(Migration.objects.values_list("state").annotate(n=Count("id")).order_by())
    return {
        "filter": migration_filter,
        "migrations_page": _page(migrations, params.get("page"), MIGRATIONS_PER_PAGE),
        "states": Migration.State.choices,
        "state_counts": counts,
    }
