"""What the API reads and writes.

Rules are only shaped and type-checked here; their real validation and their
`create`/`update`/`delete` events live in ``automigrate.services.rules``, which
admin and CLI share (the views call it).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from automigrate.engine.model import LIMITS, METRIC_TYPES, METRICS
from automigrate.models import Event, Guest, Host, Migration, MigrationRule, PlacementGroup, Webhook, WebhookDelivery
from automigrate.services import placement as placement_service
from automigrate.units import format_period


class HostSerializer(serializers.ModelSerializer):
    guest_count = serializers.SerializerMethodField(help_text="guests placed on this host")

    class Meta:
        model = Host
        fields = [
            "id", "name", "external_id", "cpu_count", "mem_total", "host_type", "cpu_arch",
            "enabled", "status", "labels", "guest_count", "created_at", "updated_at",
        ]
        extra_kwargs = {"mem_total": {"help_text": "bytes"}}

    def get_guest_count(self, host: Host) -> int:
        # The list view annotates the count in its one query; a single host counts here.
        count = getattr(host, "guest_count", None)
        return host.guests.count() if count is None else count

    def validate_labels(self, value):
        return _string_list(value)


class GuestSerializer(serializers.ModelSerializer):
    host = serializers.SlugRelatedField(slug_field="name", queryset=Host.objects.all(), help_text="host name")

    class Meta:
        model = Guest
        fields = [
            "id", "name", "external_id", "host", "vcpu_count", "vmem_size", "status", "labels",
            "last_migrated_at", "created_at", "updated_at",
        ]
        read_only_fields = ["last_migrated_at"]
        extra_kwargs = {"vmem_size": {"help_text": "MB"}}

    def validate_labels(self, value):
        return _string_list(value)

    def validate(self, attrs):
        if "labels" in attrs:
            name = attrs.get("name", self.instance.name if self.instance else "")
            try:
                placement_service.check_labels(name, attrs["labels"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


def _string_list(value) -> list[str]:
    # NUL is refused too: PostgreSQL's jsonb cannot store it.
    if not isinstance(value, list) or not all(isinstance(item, str) and "\x00" not in item for item in value):
        raise serializers.ValidationError('labels are a list of strings, e.g. ["pinned"]')
    return value


class NumberOrTextField(serializers.Field):
    """A number, or text in a unit (8G, 60%, 2m), passed on as given: services.rules parses and
    range-checks it, the same way for admin, API and CLI."""

    default_error_messages = {"invalid": "use a number or a value with its unit"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "example": "8G"}]})
class ThresholdField(NumberOrTextField):
    default_error_messages = {
        "invalid": "use a number (CPU percent, memory bytes), 60% for CPU, or a size such as 8G or 512M"
    }


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "example": "2m"}]})
class PeriodField(NumberOrTextField):
    default_error_messages = {"invalid": "use seconds or a duration such as 30s, 2m or 1h"}

    def to_representation(self, value):
        return format_period(value)


class RuleSerializer(serializers.ModelSerializer):
    metric = serializers.ChoiceField(choices=METRICS, required=False, help_text="default cpu.usage_active")
    threshold = ThresholdField(help_text="CPU: percent, 0 < t <= 100. Memory: bytes, or a size such as 8G")
    period = PeriodField(
        source="period_seconds", required=False,
        help_text="check interval and averaging window: seconds or 30s, 2m, 1h (default 5m, at least 10s)",
    )
    source_hosts = serializers.SlugRelatedField(
        slug_field="name", queryset=Host.objects.all(), many=True, required=False,
        help_text="host names; only these hosts are watched (empty: every host)",
    )
    target_hosts = serializers.SlugRelatedField(
        slug_field="name", queryset=Host.objects.all(), many=True, required=False,
        help_text="host names; VMs may only go to these hosts (empty: any other host)",
    )
    source_guests = serializers.SlugRelatedField(
        slug_field="name", queryset=Guest.objects.all(), many=True, required=False,
        help_text="guest names; only these VMs may be moved (empty: any VM)",
    )
    operator = serializers.CharField(read_only=True, help_text="gt for CPU, lt for memory")
    metric_type = serializers.ChoiceField(
        choices=list(METRIC_TYPES), required=False,
        help_text="the CLI's spelling: cpu.usage_active.gt or mem.available.lt; may be given instead of metric",
    )
    description = serializers.CharField(source="describe", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="who created the rule"
    )

    class Meta:
        model = MigrationRule
        fields = [
            "id", "name", "metric", "operator", "metric_type", "threshold", "period", "period_seconds",
            "enabled", "mode", "allowed_windows", "source_hosts", "target_hosts", "source_guests", "description",
            "created_by", "created_at", "updated_at", "last_evaluated_at", "last_result",
        ]
        read_only_fields = ["period_seconds", "last_evaluated_at", "last_result"]
        # Uniqueness is the service's to check, with its own message.
        extra_kwargs = {"name": {"validators": []}, "allowed_windows": {"validators": []}}

    def validate(self, attrs: dict) -> dict:
        metric_type = attrs.pop("metric_type", None)
        if metric_type is not None:
            meant = METRIC_TYPES[metric_type]
            if "metric" in attrs and attrs["metric"] != meant:
                raise serializers.ValidationError({"metric_type": (
                    f"{metric_type} disagrees with metric {attrs['metric']}: give one of them, or both alike"
                )})
            attrs["metric"] = meant
        return attrs

    def to_service_input(self) -> dict:
        """validated_data in the keys services.rules.clean_rule_input reads."""
        data = dict(self.validated_data)
        if "period_seconds" in data:
            data["period"] = data.pop("period_seconds")
        return data


class ApproveSerializer(serializers.Serializer):
    event = serializers.IntegerField(help_text="id of the rule's `recommend` event to carry out")
    override_window = serializers.BooleanField(
        default=False, help_text="approve outside the rule's windows or in a blackout (recorded in the event)"
    )


class _StoredName(serializers.CharField):
    """A name copied into the event; null when the event names none (as the API always said)."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


class EventSerializer(serializers.ModelSerializer):
    rule = serializers.IntegerField(source="rule_ref", read_only=True, allow_null=True,
                                    help_text="rule id, kept after the rule is deleted")
    # Names and ids as they were when the event happened, kept after the host or guest is deleted.
    guest = _StoredName(source="guest_name", help_text="guest name at the time")
    guest_id = serializers.IntegerField(read_only=True, allow_null=True)
    source_host = _StoredName(source="source_host_name", help_text="source host name at the time")
    source_host_id = serializers.IntegerField(read_only=True, allow_null=True)
    target_host = _StoredName(source="target_host_name", help_text="target host name at the time")
    target_host_id = serializers.IntegerField(read_only=True, allow_null=True)
    migration = serializers.IntegerField(source="migration_id", read_only=True, allow_null=True)
    notes = serializers.JSONField(read_only=True)

    class Meta:
        model = Event
        fields = [
            "id", "time", "rule", "rule_name", "action", "user", "guest", "guest_id", "source_host",
            "source_host_id", "target_host", "target_host_id", "migration", "summary", "notes",
        ]
        read_only_fields = fields


class MigrationSerializer(serializers.ModelSerializer):
    guest = serializers.SlugRelatedField(slug_field="name", read_only=True)
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    target = serializers.SlugRelatedField(slug_field="name", read_only=True)
    rule = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Migration
        fields = [
            "id", "guest", "source", "target", "rule", "batch", "state", "score", "target_score",
            "requested_at", "started_at", "finished_at", "deadline_at", "duration_seconds", "error",
            "progress", "driver_ref",
        ]
        read_only_fields = fields


class HostMetricsSerializer(serializers.Serializer):
    """A host's window means; null where it sent no sample in the window."""

    host = serializers.IntegerField(source="id")
    name = serializers.CharField()
    window_seconds = serializers.IntegerField()
    cpu_usage_active = serializers.FloatField(allow_null=True, help_text="mean %, all cores")
    mem_available = serializers.FloatField(allow_null=True, help_text="mean bytes")
    mem_total = serializers.IntegerField(help_text="bytes")
    cpu_count = serializers.IntegerField()


class SeriesSerializer(serializers.Serializer):
    host = serializers.IntegerField()
    name = serializers.CharField()
    metric = serializers.ChoiceField(choices=METRICS)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    bucket_seconds = serializers.IntegerField(help_text="each point is the mean of one bucket this wide")
    times = serializers.ListField(child=serializers.DateTimeField())
    values = serializers.ListField(child=serializers.FloatField())


class MoveSerializer(serializers.Serializer):
    guest = serializers.CharField()
    source = serializers.CharField()
    target = serializers.CharField()
    score = serializers.FloatField(help_text="the guest's weight on the source, in the metric's unit")
    target_score = serializers.FloatField(help_text="the guest's weight on the target")
    source_before = serializers.FloatField()
    source_after = serializers.FloatField()
    target_before = serializers.FloatField()
    target_after = serializers.FloatField()
    reason = serializers.CharField()


class RejectionSerializer(serializers.Serializer):
    """Why one target cannot take a guest (automigrate.engine.model.Rejection): the limit and its numbers."""

    target = serializers.CharField()
    limit = serializers.ChoiceField(choices=LIMITS)
    reason = serializers.CharField(allow_blank=True, help_text="short code: over_threshold, under_mem_floor, ...")
    guest = serializers.CharField(allow_blank=True)
    current = serializers.FloatField(allow_null=True, help_text="the target's value now, in unit")
    score = serializers.FloatField(allow_null=True, help_text="what the guest adds (CPU) or takes (memory)")
    limit_value = serializers.FloatField(allow_null=True)
    unit = serializers.CharField(allow_blank=True, help_text="% | bytes | min | guests")
    group = serializers.CharField(allow_blank=True, help_text="placement: the group refusing")
    strength = serializers.CharField(allow_blank=True)
    detail = serializers.CharField(allow_blank=True)


class FailureSerializer(serializers.Serializer):
    host = serializers.CharField()
    guest = serializers.CharField(allow_null=True)
    notes = serializers.CharField(help_text="the reference's text, rendered from the records below")
    rejections = RejectionSerializer(many=True)
    not_listed = serializers.IntegerField(help_text="targets also refused but not in rejections")
    not_tried = serializers.IntegerField(help_text="targets never examined (the search gave up)")
    reason = serializers.CharField(allow_blank=True, help_text="no_target | no_eligible_target | host-level code")
    scope = serializers.DictField(child=serializers.CharField(allow_blank=True))


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField()
    guest = serializers.CharField(allow_null=True)
    host = serializers.CharField(allow_null=True)
    detail = serializers.CharField(allow_blank=True)
    data = serializers.DictField(help_text="the numbers behind detail, where there are some")


class PlanSerializer(serializers.Serializer):
    """The engine's plan (automigrate.engine.model.Plan.to_dict); documents the preview's shape."""

    rule = serializers.CharField()
    policy = serializers.CharField()
    metric = serializers.ChoiceField(choices=METRICS)
    threshold = serializers.FloatField()
    result = serializers.CharField(help_text="migrating | find_result_fail | not_triggered")
    triggered = serializers.ListField(child=serializers.DictField(), help_text="{host, value, threshold}")
    moves = MoveSerializer(many=True)
    failures = FailureSerializer(many=True)
    skipped = SkipSerializer(many=True)
    hosts_after = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="host -> projected value (null: no samples)"
    )


class EvaluationSerializer(serializers.Serializer):
    """The outcome of one evaluation or approval (automigrate.services.evaluate.Evaluation)."""

    rule = serializers.IntegerField(source="rule.pk")
    rule_name = serializers.CharField(source="rule.name")
    result = serializers.CharField(
        help_text="not_triggered | settling | find_result_fail | recommend | migrating | skip | busy | disabled"
    )
    summary = serializers.CharField()
    plan = PlanSerializer(allow_null=True, help_text="the engine's plan; null when the rule did not look")
    batch = serializers.IntegerField(source="batch.pk", allow_null=True, help_text="the migration batch started")
    events = EventSerializer(many=True, help_text="events this evaluation recorded")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class WebhookSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                   help_text="HMAC-SHA256 key for X-Automigrate-Signature; never read back")
    signed = serializers.SerializerMethodField(help_text="whether a secret is set")

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "actions", "enabled", "secret", "signed", "created_at"]

    def get_signed(self, hook: Webhook) -> bool:
        return bool(hook.secret)

    def validate_actions(self, value):
        from automigrate.services.notify import CONDITIONS

        allowed = set(Event.Action.values) | set(CONDITIONS)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise serializers.ValidationError('actions are a list of event actions, e.g. ["migrate_fail"]')
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise serializers.ValidationError(
                f"unknown action(s) {', '.join(unknown)}: use {', '.join(sorted(allowed))}"
            )
        return value


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook", "event", "action", "state", "attempts", "last_status", "last_error",
                  "next_attempt_at", "created_at", "delivered_at"]
        read_only_fields = fields


class NamesField(serializers.ListField):
    """Names in (checked by the service), the related rows' names out."""

    child = serializers.CharField()

    def to_representation(self, data):
        return sorted(row.name for row in data.all())


class PlacementGroupSerializer(serializers.ModelSerializer):
    """Kinds and strengths are checked by the service, so every client gets the same one-line errors."""

    kind = serializers.CharField(help_text="anti-affinity, affinity, host-affinity or host-anti-affinity")
    strength = serializers.CharField(required=False, help_text="must (default) or should")
    guests = NamesField(required=False, help_text="guest names; guests labelled group:NAME are members too")
    hosts = NamesField(required=False, help_text="host names (host-affinity / host-anti-affinity only)")

    class Meta:
        model = PlacementGroup
        fields = ["id", "name", "kind", "strength", "guests", "hosts", "description", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}


class ViolationSerializer(serializers.Serializer):
    group = serializers.CharField()
    kind = serializers.CharField()
    strength = serializers.CharField()
    guests = serializers.ListField(child=serializers.CharField())
    hosts = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField()


class MaintenanceSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["enter", "exit"])
    through_blackout = serializers.BooleanField(default=False, help_text="evacuate even in a blackout window")


class RepairSerializer(serializers.Serializer):
    through_blackout = serializers.BooleanField(default=False, help_text="repair even in a blackout window")


class OutcomeSerializer(serializers.Serializer):
    summary = serializers.CharField()
    batch = serializers.IntegerField(allow_null=True)
    moves = serializers.ListField(child=serializers.CharField())
    left = serializers.ListField(child=serializers.DictField())
    plan = serializers.JSONField(allow_null=True)

