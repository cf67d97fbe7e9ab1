"""Creating, changing and deleting rules, with their events.

Admin, API and CLI all come through here, so every rule change is validated
the same way and writes its `create` / `update` / `delete` event.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError, Q

from automigrate.engine import windows
from automigrate.engine.model import CPU, MEM, METRICS
from automigrate.models import Event, Guest, Host, MigrationRule
from automigrate.models.bounds import NAME_MAX_LENGTH, threshold_problem
from automigrate.services.events import record_event
from automigrate.units import (
    MAX_PERIOD_SECONDS,
    format_period,
    format_size,
    parse_period,
    parse_size,
    shown_input,
)

RES_NAME = "migrationalert"  # the reference's resource name, kept in notes
EDITABLE_FIELDS = (
    "name", "metric", "threshold", "period_seconds", "enabled", "mode", "allowed_windows",
    "source_hosts", "target_hosts", "source_guests",
)
RELATION_FIELDS = ("source_hosts", "target_hosts", "source_guests")


# No host runs usefully with under 64 MiB free: a smaller threshold never fires, and is
# nearly always a number meant in M or G ("150" for 150G) rather than in bytes. (The
# database's own bound is only > 0; this one is the services', with a hint.)
MIN_MEM_THRESHOLD_BYTES = 64 * 1024**2


def clean_threshold(metric: str, raw) -> float:
    """CPU: a percent in (0, 100], also written 60%. Memory: whole bytes in [64M, 1P], also written 8G or 512M."""
    if metric == MEM:
        try:
            value = parse_size(raw)
        except ValueError as exc:
            raise ValidationError({"threshold": str(exc)}) from exc
    else:
        if isinstance(raw, str) and raw.strip().endswith("%"):
            raw = raw.strip()[:-1]  # "60%" as the rules list shows it
        try:
            value = float(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                {"threshold": f"'{shown_input(raw)}' is not a number: use a percent, 0 < t <= 100"}
            ) from exc
    problem = threshold_problem(metric, value, shown_input(raw))
    if problem:
        raise ValidationError({"threshold": problem})
    if metric == MEM and value < MIN_MEM_THRESHOLD_BYTES:
        bare = isinstance(raw, int | float) or str(raw).strip().replace(".", "", 1).isdigit()
        hint = f"; write the unit, e.g. {shown_input(raw).strip()}G or {shown_input(raw).strip()}M" if bare else ""
        raise ValidationError({"threshold": (
            f"'{shown_input(raw)}' is {format_size(value)}, under 64M: a mem.available threshold"
            f" that small never fires{hint}"
        )})
    return value


def clean_period(raw) -> int:
    try:
        return parse_period(raw, maximum=MAX_PERIOD_SECONDS)
    except ValueError as exc:
        raise ValidationError({"period": str(exc)}) from exc


# Each checker below reads one field from (data, instance) and writes its cleaned value
# into ``cleaned``, or raises ValidationError({field: message}). clean_rule_input runs them
# all and reports every bad field at once.


def _clean_name(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    name = data.get("name", instance.name if instance else None)
    name = str(name).strip() if name is not None else ""
    cleaned["name"] = name
    if not name:
        raise ValidationError({"name": "a rule needs a name"})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"a rule name is at most {NAME_MAX_LENGTH} characters, got {len(name)}"})
    if "\x00" in name:
        raise ValidationError({"name": "a rule name cannot contain a NUL character"})
    clash = MigrationRule.objects.filter(name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError({"name": f"a rule named '{shown_input(name)}' already exists"})


def _clean_metric(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    metric = data.get("metric", instance.metric if instance else CPU)
    cleaned["metric"] = metric
    if metric not in METRICS:
        raise ValidationError({"metric": f"'{shown_input(metric)}' is not a metric: use {' or '.join(METRICS)}"})


def _clean_rule_threshold(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    metric = cleaned.get("metric")
    if instance is not None and metric != instance.metric and data.get("threshold") in (None, ""):
        # The old number would be kept in the new unit: 60 (%) would become 60 bytes.
        raise ValidationError({"threshold": "give a new threshold when changing the metric"})
    if not ("threshold" in data or instance is None or "metric" in data):
        return
    raw = data.get("threshold", instance.threshold if instance else None)
    if raw in (None, ""):
        raise ValidationError({"threshold": "a rule needs a threshold"})
    if metric in METRICS:
        cleaned["threshold"] = clean_threshold(metric, raw)


def _clean_rule_period(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    raw = data.get("period", data.get("period_seconds"))
    if raw is not None or instance is None:
        cleaned["period_seconds"] = clean_period(raw if raw is not None else "5m")


def _clean_mode(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    if "mode" in data:
        cleaned["mode"] = data["mode"]
        if data["mode"] not in MigrationRule.Mode.values:
            raise ValidationError(
                {"mode": f"'{shown_input(data['mode'])}' is not a mode: use {' or '.join(MigrationRule.Mode.values)}"}
            )
    if "enabled" in data:
        cleaned["enabled"] = bool(data["enabled"])


def _clean_relations(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    """Host and guest lists; a host cannot be both a source and a target of one rule."""
    relations = {}
    for field in RELATION_FIELDS:
        if field in data:
            relations[field] = list(data[field] or [])
            cleaned[field] = relations[field]
        elif instance is not None and instance.pk:
            relations[field] = list(getattr(instance, field).all())
        else:
            relations[field] = []
    both = {h.name for h in relations["source_hosts"]} & {h.name for h in relations["target_hosts"]}
    if both:
        raise ValidationError(
            {"target_hosts": f"{', '.join(sorted(both))} cannot be both a source and a target host of the same rule"}
        )


def _clean_allowed_windows(data: dict, instance: MigrationRule | None, cleaned: dict) -> None:
    if "allowed_windows" not in data:
        return
    spec = str(data["allowed_windows"] or "").strip()
    try:
        windows.parse(spec, "allowed_windows")
    except windows.WindowError as exc:
        raise ValidationError({"allowed_windows": str(exc)}) from exc
    cleaned["allowed_windows"] = spec


FIELD_CHECKS = (
    _clean_name, _clean_metric, _clean_rule_threshold, _clean_rule_period, _clean_mode, _clean_relations,
    _clean_allowed_windows,
)


def clean_rule_input(data: dict, instance: MigrationRule | None = None) -> dict:
    """Check a whole rule (new values over the instance's current ones).

    Returns the normalized values: threshold in its unit, period in seconds,
    relations as lists. Raises ValidationError naming each bad field.
    """
    errors: dict[str, str] = {}
    cleaned: dict = {}
    for check in FIELD_CHECKS:
        try:
            check(data, instance, cleaned)
        except ValidationError as exc:
            errors.update({field: messages[0] for field, messages in exc.message_dict.items()})

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


def creator_name(rule: MigrationRule) -> str:
    """Who created the rule: the linked user, else the actor its `create` event records (a CLI user,
    ``cli:alice``, has no account to link); '' if neither is known."""
    if rule.created_by_id:
        return rule.created_by.get_username()
    created = Event.objects.filter(rule_ref=rule.pk, action=Event.Action.CREATE).order_by("time", "id")
    return created.values_list("user", flat=True).first() or ""


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


class InUse(Exception):
    """A host or guest cannot be deleted: guests run on it, or its migration history is kept."""


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
    """Delete a host or guest that no rule lists and nothing protects (ListedByRules or InUse otherwise)."""
    # Lock the row first: adding it to a rule's list inserts a row referring to it,
    # which waits for this lock, so no rule can start listing it between check and delete.
    list(type(obj).objects.select_for_update().filter(pk=obj.pk).values_list("pk"))
    refuse_if_listed(obj)
    try:
        with transaction.atomic():
            obj.delete()
    except ProtectedError as exc:
        if isinstance(obj, Host):
            if obj.guests.exists():
                raise InUse(f"host {obj.name} still has guests: move or delete them first") from exc
            raise InUse(f"host {obj.name} has migration history, which is kept: "
                        "set enabled=false or status=offline instead") from exc
        raise InUse(f"guest {obj.name} has migration history, which is kept: set status=stopped instead") from exc


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
