"""REST API viewsets. Thin: rule changes, evaluations and approvals go through services; their errors
become 400/409 answers in one place, automigrate.api.exceptions."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from automigrate.api import serializers as s
from automigrate.api.exceptions import Conflict
from automigrate.api.pagination import EventPagination
from automigrate.engine.model import CPU, MEM, METRICS
from automigrate.filters import EventFilter, GuestFilter, HostFilter, MigrationFilter, RuleFilter
from automigrate.models import Event, Guest, Host, Migration, MigrationRule, PlacementGroup, Webhook
from automigrate.permissions import StaffOnly
from automigrate.services import maintenance as maintenance_service
from automigrate.services import placement as placement_service
from automigrate.services import rules as rule_service
from automigrate.services import series as series_service
from automigrate.services.evaluate import approve_recommendation, evaluate_rule, preview_rule
from automigrate.units import format_period, parse_period


def _duration_param(request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return parse_period(raw, maximum=maximum)
    except ValueError as exc:
        raise DRFValidationError({name: str(exc)}) from exc


REFUSABLE_DELETE = extend_schema(responses={204: None, 409: s.ErrorSerializer})


@extend_schema_view(destroy=REFUSABLE_DELETE)
class HostViewSet(viewsets.ModelViewSet):
    """Hypervisor hosts. Deleting a host with guests, migration history or rules listing it is refused (409)."""

    queryset = Host.objects.annotate(guest_count=Count("guests")).order_by("name")
    serializer_class = s.HostSerializer
    filterset_class = HostFilter
    search_fields = ["name", "external_id"]
    ordering_fields = ["name", "cpu_count", "mem_total", "status", "created_at"]

    def perform_destroy(self, instance: Host) -> None:
        rule_service.delete_unlisted(instance)  # 409 via api.exceptions when refused


    @extend_schema(
        request=s.MaintenanceSerializer, responses=s.OutcomeSerializer,
        description="`enter`: the host stops being a target and every guest is moved off it as one batch "
        "(groups, caps, lock and blackouts honoured; guests that cannot leave are named). `exit`: back in "
        "service; nothing moves back.",
    )
    @action(detail=True, methods=["post"], serializer_class=s.MaintenanceSerializer)
    def maintenance(self, request, pk=None):
        host = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            if body.validated_data["action"] == "enter":
                outcome = maintenance_service.enter_maintenance(
                    host, request.user, through_blackout=body.validated_data["through_blackout"]
                )
            else:
                outcome = maintenance_service.exit_maintenance(host, request.user)
        except maintenance_service.MaintenanceError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.OutcomeSerializer(outcome.to_dict()).data)


class PlacementGroupViewSet(viewsets.ModelViewSet):
    """Placement groups: anti-affinity, affinity, host-affinity, host-anti-affinity; must or should.

    Contradictory `must` groups, unknown kinds, strengths, guests or hosts are refused (400, field named).
    """

    queryset = PlacementGroup.objects.prefetch_related("guests", "hosts").order_by("name")
    serializer_class = s.PlacementGroupSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "kind", "strength"]
    filterset_fields = ["kind", "strength"]

    def perform_create(self, serializer) -> None:
        serializer.instance = placement_service.create_group(dict(serializer.validated_data), self.request.user
        )

    def perform_update(self, serializer) -> None:
        placement_service.update_group(serializer.instance, dict(serializer.validated_data),
                     self.request.user)

    def perform_destroy(self, instance: PlacementGroup) -> None:
        placement_service.delete_group(instance, self.request.user)

    @extend_schema(responses=s.ViolationSerializer(many=True),
                   description="Groups the cluster breaks now, must and should.")
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def violations(self, request):
        found = [v.to_dict() for v in placement_service.current_violations()]
        return Response(s.ViolationSerializer(found, many=True).data)

    @extend_schema(request=s.RepairSerializer, responses=s.OutcomeSerializer,
                   description="Plan and start the fewest moves that end every must violation (one batch, "
                   "through the lock and caps); nothing moves when nothing is violated.")
    @action(detail=False, methods=["post"], serializer_class=s.RepairSerializer, filter_backends=[],
            pagination_class=None)
    def repair(self, request):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = maintenance_service.repair(request.user, through_blackout=body.validated_data["through_blackout"])
        return Response(s.OutcomeSerializer(outcome.to_dict()).data)


@extend_schema_view(destroy=REFUSABLE_DELETE)
class GuestViewSet(viewsets.ModelViewSet):
    """Guests (VMs) and the host each runs on. Deleting one with migration history or rules listing it: 409."""

    queryset = Guest.objects.select_related("host").order_by("name")
    serializer_class = s.GuestSerializer
    filterset_class = GuestFilter
    search_fields = ["name", "external_id"]
    ordering_fields = ["name", "vcpu_count", "vmem_size", "status", "host__name", "last_migrated_at"]

    def perform_destroy(self, instance: Guest) -> None:
        rule_service.delete_unlisted(instance)  # 409 via api.exceptions when refused


@extend_schema_view(
    create=extend_schema(description="Create a rule; writes its `create` event."),
    update=extend_schema(description="Replace a rule; writes an `update` event listing what changed."),
    partial_update=extend_schema(description="Change some fields; writes an `update` event listing what changed."),
    destroy=extend_schema(description="Delete a rule; its events stay, with a `delete` event."),
)
class RuleViewSet(viewsets.ModelViewSet):
    """Migration rules: when a host's mean metric crosses the threshold, move VMs off it."""

    queryset = (
        MigrationRule.objects.select_related("created_by")
        .prefetch_related("source_hosts", "target_hosts", "source_guests")
        .order_by("name")
    )
    serializer_class = s.RuleSerializer
    filterset_class = RuleFilter
    search_fields = ["name"]
    ordering_fields = ["name", "metric", "threshold", "period_seconds", "created_at", "last_evaluated_at"]

    def perform_create(self, serializer: s.RuleSerializer) -> None:
        serializer.instance = rule_service.create_rule(serializer.to_service_input(), self.request.user)

    def perform_update(self, serializer: s.RuleSerializer) -> None:
        rule_service.update_rule(serializer.instance, serializer.to_service_input(), self.request.user)

    def perform_destroy(self, instance: MigrationRule) -> None:
        rule_service.delete_rule(instance, self.request.user)

    def _rule_response(self, rule: MigrationRule) -> Response:
        rule = self.get_queryset().get(pk=rule.pk)  # fresh relations after a change
        return Response(self.get_serializer(rule).data)

    @extend_schema(request=None, responses=s.RuleSerializer, description="Turn the rule on; writes an `enable` event.")
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        rule = rule_service.set_enabled(self.get_object(), True, request.user)
        return self._rule_response(rule)

    @extend_schema(request=None, responses=s.RuleSerializer, description="Turn the rule off; writes a `disable` event.")
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        rule = rule_service.set_enabled(self.get_object(), False, request.user)
        return self._rule_response(rule)

    @extend_schema(
        request=None,
        responses=s.EvaluationSerializer,
        description="Evaluate the rule now, as its schedule would: in automatic mode this may start "
        "migrations; in recommend mode it records a `recommend` event to approve.",
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        evaluation = evaluate_rule(self.get_object(), user=request.user)
        return Response(s.EvaluationSerializer(evaluation).data)

    @extend_schema(
        responses=s.PlanSerializer,
        description="The plan the rule would carry out now. Executes nothing and records nothing.",
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        plan = preview_rule(self.get_object())
        return Response(s.PlanSerializer(plan.to_dict()).data)

    @extend_schema(
        request=s.ApproveSerializer,
        responses=s.EvaluationSerializer,
        description="Carry out one of this rule's `recommend` events, through the same path as automatic mode.",
    )
    @action(detail=True, methods=["post"], serializer_class=s.ApproveSerializer)
    def approve(self, request, pk=None):
        rule = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = Event.objects.filter(pk=body.validated_data["event"], rule_ref=rule.pk).first()
        if event is None:
            raise DRFValidationError({"event": f"rule {rule.name} has no event {body.validated_data['event']}"})
        # ApprovalError: 400 via api.exceptions
        evaluation = approve_recommendation(event, request.user, override_window=body.validated_data["override_window"])
        return Response(s.EvaluationSerializer(evaluation).data)


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """The event log: every decision and migration attempt, newest first. Append-only."""

    queryset = Event.objects.select_related("rule", "guest", "source_host", "target_host").order_by("-time", "-id")
    serializer_class = s.EventSerializer
    filterset_class = EventFilter
    pagination_class = EventPagination
    search_fields = ["rule_name", "summary"]
    ordering_fields = ["time", "action", "rule_name"]


class MigrationViewSet(viewsets.ReadOnlyModelViewSet):
    """Migration attempts, newest first."""

    queryset = Migration.objects.select_related("guest", "source", "target", "rule").order_by("-requested_at", "-id")
    serializer_class = s.MigrationSerializer
    filterset_class = MigrationFilter
    search_fields = ["guest__name"]
    ordering_fields = ["requested_at", "finished_at", "state"]


WINDOW_PARAM = OpenApiParameter(
    "window", str, description="averaging window: seconds or 30s, 2m, 1h (default: a few sample intervals)"
)


MAX_WINDOW_SECONDS = 86400
MAX_RANGE_SECONDS = 31 * 86400


@extend_schema_field(OpenApiTypes.STR)
class PeriodQueryField(serializers.Field):
    """A query parameter in seconds or 30m, 6h, 7d, up to a maximum; validated into seconds."""

    def __init__(self, *, maximum: int, **kwargs):
        self.maximum = maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        try:
            return parse_period(data, maximum=self.maximum)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value) -> str:
        return format_period(value)


class SeriesQuerySerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=METRICS, default=CPU)
    # A default skips to_internal_value, so it is already in seconds.
    range = PeriodQueryField(
        maximum=MAX_RANGE_SECONDS, default=6 * 3600, help_text="how far back: 30m, 6h, 7d (default 6h, at most 31d)"
    )
    points = serializers.IntegerField(default=300, min_value=2, max_value=series_service.MAX_POINTS)


class MetricsViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Per host: recent window means, and downsampled series for charts. `{id}` is the host's id."""

    queryset = Host.objects.order_by("name")
    serializer_class = s.HostMetricsSerializer
    filterset_class = HostFilter
    search_fields = ["name"]
    ordering_fields = ["name"]

    def _window(self) -> int:
        return _duration_param(
            self.request, "window", series_service.current_window_seconds(), maximum=MAX_WINDOW_SECONDS
        )

    def _rows(self, hosts: list[Host]) -> list[dict]:
        window = self._window()
        means = series_service.host_window_means(window, host_ids=[h.pk for h in hosts])
        return [
            {
                "id": h.pk, "name": h.name, "window_seconds": window,
                "cpu_usage_active": means.get(h.pk, {}).get(CPU),
                "mem_available": means.get(h.pk, {}).get(MEM),
                "mem_total": h.mem_total, "cpu_count": h.cpu_count,
            }
            for h in hosts
        ]

    @extend_schema(parameters=[WINDOW_PARAM])
    def list(self, request, *args, **kwargs):
        hosts = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.HostMetricsSerializer(self._rows(hosts), many=True).data)

    @extend_schema(parameters=[WINDOW_PARAM])
    def retrieve(self, request, *args, **kwargs):
        return Response(s.HostMetricsSerializer(self._rows([self.get_object()])[0]).data)

    @extend_schema(parameters=[SeriesQuerySerializer], responses=s.SeriesSerializer)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def series(self, request, pk=None):
        host = self.get_object()
        query = SeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        end = timezone.now()
        start = end - timedelta(seconds=query.validated_data["range"])
        series = series_service.host_series(
            host.pk, query.validated_data["metric"], start, end, max_points=query.validated_data["points"]
        )
        return Response(s.SeriesSerializer({
            "host": host.pk, "name": host.name, "metric": query.validated_data["metric"],
            "start": start, "end": end, "bucket_seconds": series.bucket_seconds,
            "times": series.times, "values": series.values,
        }).data)


@extend_schema_view(deliveries=extend_schema(responses=s.WebhookDeliverySerializer(many=True)))
class WebhookViewSet(viewsets.ModelViewSet):
    """Webhooks: a JSON POST per chosen event, signed with the secret, retried with back-off. Staff only."""

    queryset = Webhook.objects.order_by("name")
    serializer_class = s.WebhookSerializer
    permission_classes = [StaffOnly]
    search_fields = ["name", "url"]
    ordering_fields = ["name", "created_at"]

    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        """The delivery log of this webhook, newest first."""
        queryset = self.get_object().deliveries.order_by("-created_at", "-id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)
