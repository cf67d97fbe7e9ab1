"""Creating, changing and deleting rules, with their events.

Admin, API and CLI all come through here, so every rule change is validated
the same way and writes its `create` / `update` / `delete` event.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from automigrate.engine import windows
from automigrate.engine.model import CPU, MEM, METRICS
from automigrate.models import Event, Guest, Host, MigrationRule
from automigrate.services.events import record_event
from automigrate.units import MAX_PERIOD_SECONDS, format_period, parse_period, parse_size, shown_input

RES_NAME = "migrationalert"  # the reference's resource name, kept in notes
EDITABLE_FIELDS = (
    "name", "metric", "threshold", "period_seconds", "enabled", "mode", "allowed_windows",
    "source_hosts", "target_hosts", "source_guests",
)
RELATION_FIELDS = ("source_hosts", "target_hosts", "source_guests")


# No host has a petabyte of memory: a larger threshold is a typo (or 1e300).
MAX_MEM_THRESHOLD_BYTES = 1024**5


def clean_threshold(metric: str, raw) -> float:
    """CPU: a percent in (0, 100]. Memory: whole bytes in (0, 1P], also written as 8G or 512M."""
    if metric == MEM:
        try:
            value = parse_size(raw)
        except ValueError as exc:
            raise ValidationError({"threshold": str(exc)}) from exc
        if not value > 0:  # also NaN
            raise ValidationError({"threshold": "a mem.available threshold must be more than 0 bytes"})
        if value > MAX_MEM_THRESHOLD_BYTES:
            raise ValidationError(
                {"threshold": f"'{shown_input(raw)}' is too large: a mem.available threshold is at most 1P"}
            )
        if value != int(value):
            raise ValidationError({"threshold": f"'{shown_input(raw)}' is not a whole number of bytes"})
        return value
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            {"threshold": f"'{shown_input(raw)}' is not a number: use a percent, 0 < t <= 100"}
        ) from exc
    if not 0 < value <= 100:
        raise ValidationError(
            {"threshold": f"{shown_input(raw)} is out of range: a cpu.usage_active threshold is 0 < t <= 100"}
        )
    return value


def clean_period(raw) -> int:
    try:
        return parse_period(raw, maximum=MAX_PERIOD_SECONDS)
    except ValueError as exc:
        raise ValidationError({"period": str(exc)}) from exc


def clean_rule_input(data: dict, instance: MigrationRule | None = None) -> dict:
    """Check a whole rule (new values over the instance's current ones).

    Returns the normalized values: threshold in its unit, period in seconds,
    relations as lists. Raises ValidationError naming each bad field.
    """
    errors: dict[str, str] = {}
    cleaned: dict = {}

    name = data.get("name", instance.name if instance else None)
    if name is not None:
        name = str(name).strip()
    if not name:
        errors["name"] = "a rule needs a name"
    else:
        clash = MigrationRule.objects.filter(name=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["name"] = f"a rule named '{name}' already exists"
    cleaned["name"] = name

    metric = data.get("metric", instance.metric if instance else CPU)
    if metric not in METRICS:
        errors["metric"] = f"'{metric}' is not a metric: use {' or '.join(METRICS)}"
    cleaned["metric"] = metric

    metric_changes = instance is not None and metric != instance.metric
    if metric_changes and data.get("threshold") in (None, ""):
        # The old number would be kept in the new unit: 60 (%) would become 60 bytes.
        errors["threshold"] = "give a new threshold when changing the metric"
    elif "threshold" in data or instance is None or "metric" in data:
        raw_threshold = data.get("threshold", instance.threshold if instance else None)
        if raw_threshold in (None, ""):
            errors["threshold"] = "a rule needs a threshold"
        elif metric in METRICS:
            try:
                cleaned["threshold"] = clean_threshold(metric, raw_threshold)
            except ValidationError as exc:
                errors.update({k: v[0] for k, v in exc.message_dict.items()})

    raw_period = data.get("period", data.get("period_seconds"))
    if raw_period is not None or instance is None:
        try:
            cleaned["period_seconds"] = clean_period(raw_period if raw_period is not None else "5m")
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})

    if "mode" in data:
        if data["mode"] not in MigrationRule.Mode.values:
            errors["mode"] = f"'{data['mode']}' is not a mode: use {' or '.join(MigrationRule.Mode.values)}"
        cleaned["mode"] = data["mode"]
    if "enabled" in data:
        cleaned["enabled"] = bool(data["enabled"])
    if "allowed_windows" in data:
        spec = str(data["allowed_windows"] or "").strip()
        try:
            windows.parse(spec, "allowed_windows")
        except windows.WindowError as exc:
            errors["allowed_windows"] = str(exc)
        cleaned["allowed_windows"] = spec

    relations = {}
    for field in RELATION_FIELDS:
        if field in data:
            relations[field] = list(data[field] or [])
        elif instance is not None and instance.pk:
            relations[field] = list(getattr(instance, field).all())
        else:
            relations[field] = []
    both = {h.name for h in relations["source_hosts"]} & {h.name for h in relations["target_hosts"]}
    if both:
        errors["target_hosts"] = (
            f"{', '.join(sorted(both))} cannot be both a source and a target host of the same rule"
        )
    for field in RELATION_FIELDS:
        if field in data:
            cleaned[field] = relations[field]

    if errors:
        raise ValidationError(errors)
    return cleaned


def _snapshot(rule: MigrationRule) -> dict:
    """The rule's editable values as JSON, for before/after notes."""
    return {
        "name": rule.name,
        "metric": rule.metric,
        "threshold": rule.threshold,
        "period": format_period(rule.period_seconds),
        "enabled": rule.enabled,
        "mode": rule.mode,
        "allowed_windows": rule.allowed_windows,
        "source_hosts": sorted(h.name for h in rule.source_hosts.all()),
        "target_hosts": sorted(h.name for h in rule.target_hosts.all()),
        "source_guests": sorted(g.name for g in rule.source_guests.all()),
    }


def _ref_notes(rule: MigrationRule) -> dict:
    return {"id": rule.pk, "name": rule.name, "res_name": RES_NAME}


def _after_change(rule: MigrationRule) -> None:
    """Keep the rule's Celery beat schedule in step with the rule."""
    from automigrate.services import schedule

    schedule.sync_rule_schedule(rule)


@transaction.atomic
def create_rule(data: dict, user=None) -> MigrationRule:
    cleaned = clean_rule_input(data)
    relations = {f: cleaned.pop(f) for f in RELATION_FIELDS if f in cleaned}
    rule = MigrationRule.objects.create(created_by=user if getattr(user, "pk", None) else None, **cleaned)
    for field, values in relations.items():
        getattr(rule, field).set(values)
    record_rule_created(rule, user)
    return rule


def record_rule_created(rule: MigrationRule, user) -> Event:
    _after_change(rule)
    return record_event(
        Event.Action.CREATE, f"rule {rule.name} created: {rule.describe()}",
        rule=rule, user=user, notes={**_ref_notes(rule), "rule": _snapshot(rule)},
    )


@transaction.atomic
def update_rule(rule: MigrationRule, data: dict, user=None) -> MigrationRule:
    before = _snapshot(rule)
    cleaned = clean_rule_input(data, instance=rule)
    relations = {f: cleaned.pop(f) for f in RELATION_FIELDS if f in cleaned}
    for field, value in cleaned.items():
        setattr(rule, field, value)
    rule.save()
    for field, values in relations.items():
        getattr(rule, field).set(values)
    record_rule_updated(rule, before, user)
    return rule


def record_rule_updated(rule: MigrationRule, before: dict, user) -> Event | None:
    """Write an `update` event listing what changed; nothing changed, no event."""
    _after_change(rule)
    after = _snapshot(rule)
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before.get(k) != after[k]}
    if not changes:
        return None
    action = Event.Action.UPDATE
    if set(changes) == {"enabled"}:
        action = Event.Action.ENABLE if rule.enabled else Event.Action.DISABLE
    described = ", ".join(f"{k}: {v['before']} → {v['after']}" for k, v in changes.items())
    return record_event(
        action, f"rule {rule.name} changed: {described}",
        rule=rule, user=user, notes={**_ref_notes(rule), "changes": changes},
    )


def set_enabled(rule: MigrationRule, enabled: bool, user=None) -> MigrationRule:
    return update_rule(rule, {"enabled": enabled}, user)


@transaction.atomic
def delete_rule(rule: MigrationRule, user=None) -> Event:
    notes = {**_ref_notes(rule), "rule": _snapshot(rule)}
    rule_ref, rule_name = rule.pk, rule.name
    from automigrate.services import schedule

    schedule.remove_rule_schedule(rule)
    rule.delete()
    return record_event(
        Event.Action.DELETE, f"rule {rule_name} deleted",
        rule_ref=rule_ref, rule_name=rule_name, user=user, notes=notes,
    )


class ListedByRules(Exception):
    """A host or guest cannot be deleted: rules name it (``str()`` says which)."""


def rules_listing(obj: Host | Guest) -> list[MigrationRule]:
    """The rules whose source/target host lists or source guest list name this host or guest."""
    listed = (Q(source_hosts=obj) | Q(target_hosts=obj)) if isinstance(obj, Host) else Q(source_guests=obj)
    return list(MigrationRule.objects.filter(listed).distinct().order_by("name"))


def refuse_if_listed(obj: Host | Guest) -> None:
    """Raise ListedByRules if a rule lists ``obj``.

    Deleting it would silently drop it from the rule's list, and an empty list
    means "every host" / "any VM": the rule would widen with no event saying so.
    """
    rules = rules_listing(obj)
    if rules:
        kind = "host" if isinstance(obj, Host) else "guest"
        names = ", ".join(rule.name for rule in rules)
        raise ListedByRules(f"{kind} {obj.name} is listed by rule(s) {names}: remove it from them first")


@transaction.atomic
def delete_unlisted(obj: Host | Guest) -> None:
    """Delete a host or guest that no rule lists (ListedByRules otherwise; ProtectedError as Django raises it)."""
    # Lock the row first: adding it to a rule's list inserts a row referring to it,
    # which waits for this lock, so no rule can start listing it between check and delete.
    list(type(obj).objects.select_for_update().filter(pk=obj.pk).values_list("pk"))
    refuse_if_listed(obj)
    obj.delete()


class AmbiguousRule(MigrationRule.MultipleObjectsReturned):
    """A string of digits that is one rule's id and another rule's name."""


MAX_RULE_ID = 2**63 - 1  # larger numbers cannot be an id (and overflow the database's integer)


def find_rule(id_or_name: str) -> MigrationRule:
    """A rule by id or by name, as the command line accepts both (the API takes ids only).

    Digits may be one rule's id and another rule's name: rather than guess,
    that raises AmbiguousRule naming both. DoesNotExist if neither matches.
    """
    text = str(id_or_name)
    by_name = MigrationRule.objects.filter(name=text).first()
    by_id = None
    if text.isascii() and text.isdigit() and int(text) <= MAX_RULE_ID:
        by_id = MigrationRule.objects.filter(pk=int(text)).first()
    if by_id is not None and by_name is not None and by_id.pk != by_name.pk:
        raise AmbiguousRule(
            f"'{text}' is rule #{by_id.pk} ({by_id.name}) and also the name of rule #{by_name.pk}: "
            "use the id or rename"
        )
    rule = by_id or by_name
    if rule is None:
        raise MigrationRule.DoesNotExist(f"no rule with id or name '{text}'")
    return rule
