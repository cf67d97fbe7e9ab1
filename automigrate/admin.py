"""Django admin: rules editable, the rest of the record read-only."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from automigrate.forms import MigrationRuleForm
from automigrate.models import (
    BlackoutWindow,
    Event,
    Guest,
    Host,
    Migration,
    MigrationBatch,
    MigrationLock,
    MigrationRule,
    PlacementGroup,
    UserPreference,
    Webhook,
    WebhookDelivery,
)
from automigrate.services import placement as placement_service
from automigrate.services import rules as rule_service

admin.site.site_header = "automigrate administration"
admin.site.site_title = "automigrate"


class ListedByRulesAdmin(admin.ModelAdmin):
    """Hosts and guests that a rule lists are protected from deletion, like those with history.

    Deleting one would silently drop it from the rule's list, and an empty list
    means "every host" / "any VM": admin shows the rules and refuses instead.
    """

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        for obj in objs:
            for rule in rule_service.rules_listing(obj):
                url = reverse("admin:automigrate_migrationrule_change", args=[rule.pk])
                protected.append(format_html('Migration rule: <a href="{}">{}</a> (lists {} {})',
                                             url, rule.name, obj._meta.verbose_name, obj.name))
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        # The confirmation page already refused; this re-checks under a lock at delete time.
        rule_service.delete_unlisted(obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for obj in queryset:
            rule_service.delete_unlisted(obj)


@admin.register(Host)
class HostAdmin(ListedByRulesAdmin):
    list_display = ("name", "status", "enabled", "cpu_count", "mem_total", "host_type", "cpu_arch")
    list_filter = ("status", "enabled", "host_type", "cpu_arch")
    search_fields = ("name", "external_id")
    list_per_page = 100


class GuestForm(forms.ModelForm):
    class Meta:
        model = Guest
        fields = ("name", "external_id", "host", "vcpu_count", "vmem_size", "status", "labels",
                  "last_migrated_at", "last_migrated_from", "workload")

    def clean(self):
        # A group:NAME label joins a placement group: refused if that contradicts a must group.
        data = super().clean()
        if "labels" in self.changed_data and not self.errors:
            try:
                placement_service.check_labels(data.get("name") or self.instance.name, data.get("labels") or [])
            except ValidationError as exc:
                self.add_error("labels", exc.message_dict["labels"])
        return data


@admin.register(Guest)
class GuestAdmin(ListedByRulesAdmin):
    form = GuestForm
    list_display = ("name", "host", "status", "vcpu_count", "vmem_size", "last_migrated_at")
    list_filter = ("status",)
    search_fields = ("name", "external_id", "host__name")
    autocomplete_fields = ("host", "last_migrated_from")
    list_select_related = ("host",)
    list_per_page = 100


@admin.register(MigrationRule)
class MigrationRuleAdmin(admin.ModelAdmin):
    form = MigrationRuleForm
    list_display = ("name", "metric", "threshold_display", "period_display", "mode", "enabled",
                    "last_evaluated_at", "last_result")
    list_filter = ("metric", "mode", "enabled")
    search_fields = ("name",)
    # Search-as-you-type pickers: usable with thousands of hosts and guests.
    autocomplete_fields = ("source_hosts", "target_hosts", "source_guests")
    readonly_fields = ("created_by_name", "created_at", "updated_at", "last_evaluated_at", "last_result")

    @admin.display(description="created by")
    def created_by_name(self, rule):
        # A rule made from the CLI has no account to link; its create event names the actor.
        return rule_service.creator_name(rule) or "—"

    @admin.display(description="threshold")
    def threshold_display(self, rule):
        return rule.threshold_display

    @admin.display(description="period")
    def period_display(self, rule):
        return rule.period_display

    def save_model(self, request, obj, form, change):
        # The event is written in save_related, once the host and guest lists are saved.
        if change:
            form.rule_before = rule_service._snapshot(MigrationRule.objects.get(pk=obj.pk))
        else:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            rule_service.record_rule_updated(form.instance, form.rule_before, request.user)
        else:
            rule_service.record_rule_created(form.instance, request.user)

    def delete_model(self, request, obj):
        rule_service.delete_rule(obj, request.user)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rule_service.delete_rule(rule, request.user)


class PlacementGroupForm(forms.ModelForm):
    class Meta:
        model = PlacementGroup
        fields = ("name", "kind", "strength", "guests", "hosts", "description")

    def clean(self):
        # The service's checks, with every other group: contradictions are refused here, at save time.
        data = super().clean()
        if self.errors:
            return data
        values = {k: data.get(k) for k in ("name", "kind", "strength", "description")}
        values["guests"] = list(data.get("guests") or [])
        values["hosts"] = list(data.get("hosts") or [])
        try:
            placement_service.clean_group_input(values, self.instance if self.instance.pk else None)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(PlacementGroup)
class PlacementGroupAdmin(admin.ModelAdmin):
    form = PlacementGroupForm
    list_display = ("name", "kind", "strength", "description")
    list_filter = ("kind", "strength")
    search_fields = ("name",)
    autocomplete_fields = ("guests", "hosts")

    def save_model(self, request, obj, form, change):
        form.group_before = placement_service._snapshot(PlacementGroup.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        placement_service.record_saved(form.instance, form.group_before, request.user)

    def delete_model(self, request, obj):
        placement_service.delete_group(obj, request.user)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for group in queryset:
            placement_service.delete_group(group, request.user)


@admin.register(BlackoutWindow)
class BlackoutWindowAdmin(admin.ModelAdmin):
    list_display = ("name", "windows", "enabled", "reason")
    list_filter = ("enabled",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record, not a control panel: view and filter, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    # The names stored with each event: the host or guest may have been deleted since.
    list_display = ("time", "rule_name", "action", "user", "guest_name", "source_host_name", "target_host_name",
                    "summary")
    list_filter = ("action", "rule_name", "time")
    search_fields = ("rule_name", "summary", "guest_name", "source_host_name", "target_host_name")
    date_hierarchy = "time"
    list_per_page = 100


@admin.register(Migration)
class MigrationAdmin(ReadOnlyAdmin):
    list_display = ("requested_at", "guest", "source", "target", "state", "rule", "duration_seconds", "error")
    list_filter = ("state", "rule", "requested_at", ("source", admin.RelatedOnlyFieldListFilter),
                   ("target", admin.RelatedOnlyFieldListFilter))
    search_fields = ("guest__name", "source__name", "target__name", "error")
    list_select_related = ("guest", "source", "target", "rule")
    date_hierarchy = "requested_at"
    list_per_page = 100


@admin.register(MigrationBatch)
class MigrationBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "rule_name", "state", "started_at", "finished_at")
    list_filter = ("state", "rule_name")


@admin.register(MigrationLock)
class MigrationLockAdmin(ReadOnlyAdmin):
    list_display = ("holder", "batch", "acquired_at", "lease_expires_at")


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "time_zone")
    search_fields = ("user__username", "time_zone")


class DeliveryInline(admin.TabularInline):
    """The delivery log, newest first: each attempt's status and error."""

    model = WebhookDelivery
    fields = ("created_at", "action", "event", "state", "attempts", "last_status", "last_error", "next_attempt_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "actions", "signed")
    list_filter = ("enabled",)
    search_fields = ("name", "url")
    inlines = [DeliveryInline]

    @admin.display(boolean=True, description="signed")
    def signed(self, hook):
        return bool(hook.secret)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "webhook", "action", "state", "attempts", "last_status", "last_error")
    list_filter = ("state", "action", "webhook")
    list_select_related = ("webhook",)
    date_hierarchy = "created_at"


def _celery_schedules_read_only() -> None:
    """Rule schedules are kept in step with the rules by automigrate.services.schedule: editing
    them here would silently change when a rule runs. Read-only, and only the task list shown."""
    from django_celery_beat import models as beat

    for model in (beat.PeriodicTask, beat.IntervalSchedule, beat.CrontabSchedule, beat.SolarSchedule,
                  beat.ClockedSchedule):
        if admin.site.is_registered(model):
            admin.site.unregister(model)

    @admin.register(beat.PeriodicTask)
    class PeriodicTaskAdmin(ReadOnlyAdmin):
        list_display = ("name", "task", "enabled", "interval", "clocked", "last_run_at")
        search_fields = ("name",)


_celery_schedules_read_only()
