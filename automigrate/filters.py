"""django-filter FilterSets of the app, shared by the dashboard's list pages and the API (as NetBox does).

Hosts and guests are filtered by *name* (what people type and what the CLI
prints); rules by id, which also matches events of rules since deleted.
"""

from datetime import UTC

import django_filters as filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from automigrate.engine.model import METRIC_TYPES
from automigrate.models import Event, Guest, Host, Migration, MigrationRule

MAX_ID = 2**63 - 1  # a bigint: larger values are a 400, not a database overflow


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A whole, positive id (NumberFilter alone takes any decimal, e.g. 1e192)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned into UTC here.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59, and a
    time at the edge of year 1 may not exist in UTC: both are a 400, not a 500.
    """

    default_error_messages = {
        "invalid": "Enter a valid date/time: YYYY-MM-DDTHH:MM, read in your display time zone,"
                   " or ISO 8601 with an offset (2026-12-01T19:26+01:00).",
    }

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("this time is out of range") from None


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class HostFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Host.Status.choices)

    class Meta:
        model = Host
        fields = ["status", "enabled", "host_type", "cpu_arch"]


class GuestFilter(filters.FilterSet):
    host = filters.CharFilter(field_name="host__name", help_text="host name")
    status = filters.MultipleChoiceFilter(choices=Guest.Status.choices)

    class Meta:
        model = Guest
        fields = ["host", "status"]


class RuleFilter(filters.FilterSet):
    metric_type = filters.ChoiceFilter(
        choices=[(key, key) for key in METRIC_TYPES], method="filter_metric_type",
        help_text="cpu.usage_active.gt or mem.available.lt",
    )
    metric = filters.ChoiceFilter(choices=MigrationRule.Metric.choices)
    mode = filters.ChoiceFilter(choices=MigrationRule.Mode.choices)

    class Meta:
        model = MigrationRule
        fields = ["metric_type", "metric", "mode", "enabled"]

    def filter_metric_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(metric=METRIC_TYPES[value])


class _TimeRangeFilter(filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="time", lookup_expr="gte", help_text="ISO 8601, inclusive")
    until = UtcIsoDateTimeFilter(field_name="time", lookup_expr="lt", help_text="ISO 8601, exclusive")


def _on_host(queryset: QuerySet, source: str, target: str, host_name: str) -> QuerySet:
    return queryset.filter(Q(**{f"{source}__name": host_name}) | Q(**{f"{target}__name": host_name}))


class EventFilter(_TimeRangeFilter):
    rule = IdFilter(field_name="rule_ref", help_text="rule id (also for deleted rules)")
    rule_name = filters.CharFilter()
    action = filters.MultipleChoiceFilter(choices=Event.Action.choices)
    host = filters.CharFilter(method="filter_host", help_text="host name, as source or target")
    # The names stored with each event: also finds events of deleted (or renamed) hosts and guests.
    guest = filters.CharFilter(field_name="guest_name", help_text="guest name")
    user = filters.CharFilter()

    class Meta:
        model = Event
        fields = ["rule", "rule_name", "action", "host", "guest", "user", "since", "until"]

    def filter_host(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(source_host_name=value) | Q(target_host_name=value))


class MigrationFilter(filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="requested_at", lookup_expr="gte", help_text="ISO 8601, inclusive")
    until = UtcIsoDateTimeFilter(field_name="requested_at", lookup_expr="lt", help_text="ISO 8601, exclusive")
    state = filters.MultipleChoiceFilter(choices=Migration.State.choices)
    rule = IdFilter(field_name="rule_id", help_text="rule id")
    host = filters.CharFilter(method="filter_host", help_text="host name, as source or target")
    guest = filters.CharFilter(field_name="guest__name", help_text="guest name")

    class Meta:
        model = Migration
        fields = ["state", "rule", "host", "guest", "since", "until"]

    def filter_host(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return _on_host(queryset, "source", "target", value)
