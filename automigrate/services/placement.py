"""Placement groups: editing them (admin, API and CLI all come here), and reading them for the engine.

Every change is checked against all other groups before it is saved: an
unknown kind or strength, a host list on a guest group (or none on a host
group), and contradictory ``must`` groups (a guest that must be on h1 and
must not be) are refused with the field named, so a saved set of groups is
always one some placement can satisfy.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from automigrate.engine import model as engine_model
from automigrate.engine.model import GROUP_KINDS, GROUP_LABEL_PREFIX, HOST_GROUP_KINDS, STRENGTHS
from automigrate.engine.placement import GroupError, Placement, Violation, label_groups, validate_groups
from automigrate.models import Event, Guest, Host, PlacementGroup
from automigrate.models.placement import GROUP_NAME
from automigrate.services.events import record_event

FIELDS = ("name", "kind", "strength", "guests", "hosts", "description")


def _spec(group: PlacementGroup, guests: Iterable[str] | None = None, hosts: Iterable[str] | None = None):
    return engine_model.PlacementGroup(
        name=group.name, kind=group.kind, strength=group.strength,
        guests=frozenset(guests if guests is not None else group.guests.values_list("name", flat=True)),
        hosts=frozenset(hosts if hosts is not None else group.hosts.values_list("name", flat=True)),
    )


def group_specs() -> tuple[engine_model.PlacementGroup, ...]:
    """Every group as the engine reads it (explicit members; labels are the engine's to add)."""
    groups = list(PlacementGroup.objects.prefetch_related("guests", "hosts").order_by("name"))
    return tuple(
        _spec(g, [x.name for x in g.guests.all()], [h.name for h in g.hosts.all()]) for g in groups
    )


def labelled_guests() -> Q:
    """Guests whose labels may name a group (``group:...``); a text match, exact check in the engine."""
    return Q(labels__icontains=f'"{GROUP_LABEL_PREFIX}')


def grouped_guest_pks() -> list[int]:
    """Every guest that is a member of a group, explicitly or by label (one query each)."""
    if not PlacementGroup.objects.exists():
        return []
    explicit = set(PlacementGroup.guests.through.objects.values_list("guest_id", flat=True))
    names = set(PlacementGroup.objects.values_list("name", flat=True))
    labelled = {
        pk for pk, labels in Guest.objects.filter(labelled_guests()).values_list("pk", "labels")
        if label_groups(labels or ()) & names
    }
    return sorted(explicit | labelled)


def _members_for_check(specs: list[engine_model.PlacementGroup]) -> dict[str, frozenset[str]]:
    members = {s.name: set(s.guests) for s in specs}
    for name, labels in Guest.objects.filter(labelled_guests()).values_list("name", "labels"):
        for group in label_groups(labels or ()):
            if group in members:
                members[group].add(name)
    return {k: frozenset(v) for k, v in members.items()}


def check_all(specs: list[engine_model.PlacementGroup], field_of_changed: str = "guests") -> None:
    """Raise ValidationError if ``specs`` (every group, as it would be saved) contradict each other."""
    try:
        validate_groups(specs, _members_for_check(specs))
    except GroupError as exc:
        message = str(exc)
        field = message.split(":", 1)[0].split(".")[-1]
        raise ValidationError({field if field in FIELDS else field_of_changed: message}) from exc


def clean_group_input(data: dict, instance: PlacementGroup | None = None) -> dict:
    """Check a whole group (new values over the instance's); returns clean values, relations as lists."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    name = str(data.get("name", instance.name if instance else "") or "").strip()
    try:
        GROUP_NAME(name)
    except ValidationError as exc:
        errors["name"] = f"'{name}': {exc.messages[0]}" if name else "a group needs a name"
    clash = PlacementGroup.objects.filter(name=name).exclude(pk=instance.pk if instance else None)
    if name and clash.exists():
        errors["name"] = f"a group named '{name}' already exists"
    cleaned["name"] = name
    kind = data.get("kind", instance.kind if instance else None)
    if kind not in GROUP_KINDS:
        errors["kind"] = f"'{kind}' is not a kind: use {', '.join(GROUP_KINDS)}"
    cleaned["kind"] = kind
    strength = data.get("strength", instance.strength if instance else "must")
    if strength not in STRENGTHS:
        errors["strength"] = f"'{strength}' is not a strength: use {' or '.join(STRENGTHS)}"
    cleaned["strength"] = strength
    if "description" in data:
        cleaned["description"] = str(data["description"] or "")
    for field, model in (("guests", Guest), ("hosts", Host)):
        if field in data:
            cleaned[field] = _objects(model, data[field], field, errors)
        else:
            cleaned[field] = list(getattr(instance, field).all()) if instance is not None and instance.pk else []
    if kind in HOST_GROUP_KINDS and not cleaned["hosts"] and "hosts" not in errors:
        errors["hosts"] = f"a {kind} group needs at least one host"
    if kind in GROUP_KINDS and kind not in HOST_GROUP_KINDS and cleaned["hosts"]:
        errors["hosts"] = "only host-affinity and host-anti-affinity groups list hosts"
    if errors:
        raise ValidationError(errors)
    others = [_spec(g) for g in PlacementGroup.objects.exclude(pk=instance.pk if instance else None)]
    mine = engine_model.PlacementGroup(
        name=name, kind=kind, strength=strength,
        guests=frozenset(g.name for g in cleaned["guests"]), hosts=frozenset(h.name for h in cleaned["hosts"]),
    )
    check_all([*others, mine])
    return cleaned


def _objects(model, values, field: str, errors: dict) -> list:
    """Rows named by ``values`` (instances, pks or names); an unknown one is an error naming it."""
    out = []
    for value in values or []:
        if isinstance(value, model):
            out.append(value)
            continue
        text = str(value)
        row = model.objects.filter(name=text).first()
        if row is None and text.isdigit():
            row = model.objects.filter(pk=int(text)).first()
        if row is None:
            errors[field] = f"unknown {model.__name__.lower()} '{text}'"
            return []
        out.append(row)
    return list(dict.fromkeys(out))


def _snapshot(group: PlacementGroup) -> dict:
    return {
        "name": group.name, "kind": group.kind, "strength": group.strength, "description": group.description,
        "guests": sorted(g.name for g in group.guests.all()), "hosts": sorted(h.name for h in group.hosts.all()),
    }


def describe(group: PlacementGroup) -> str:
    snap = _snapshot(group)
    text = f"{group.kind} ({group.strength}) of {', '.join(snap['guests']) or 'no listed guest'}"
    return text + (f" on {', '.join(snap['hosts'])}" if snap["hosts"] else "")


@transaction.atomic
def create_group(data: dict, user=None) -> PlacementGroup:
    cleaned = clean_group_input(data)
    guests, hosts = cleaned.pop("guests"), cleaned.pop("hosts")
    group = PlacementGroup.objects.create(**cleaned)
    group.guests.set(guests)
    group.hosts.set(hosts)
    record_saved(group, None, user)
    return group


@transaction.atomic
def update_group(group: PlacementGroup, data: dict, user=None) -> PlacementGroup:
    before = _snapshot(group)
    cleaned = clean_group_input(data, instance=group)
    guests, hosts = cleaned.pop("guests"), cleaned.pop("hosts")
    for field, value in cleaned.items():
        setattr(group, field, value)
    group.save()
    group.guests.set(guests)
    group.hosts.set(hosts)
    record_saved(group, before, user)
    return group


def record_saved(group: PlacementGroup, before: dict | None, user) -> Event | None:
    """The ``create`` event, or an ``update`` event listing what changed (none if nothing did)."""
    after = _snapshot(group)
    if before is None:
        return record_event(Event.Action.CREATE, f"placement group {group.name} created: {describe(group)}",
                            user=user, notes={"placement_group": after})
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if not changes:
        return None
    described = ", ".join(f"{k}: {v['before']} → {v['after']}" for k, v in changes.items())
    return record_event(Event.Action.UPDATE, f"placement group {group.name} changed: {described}", user=user,
                        notes={"placement_group": after, "changes": changes})


def add_members(group: PlacementGroup, guests: list[str], hosts: list[str], user=None) -> PlacementGroup:
    data = {
        "guests": [*group.guests.all(), *guests],
        "hosts": [*group.hosts.all(), *hosts],
    }
    return update_group(group, data, user)


def remove_members(group: PlacementGroup, guests: list[str], hosts: list[str], user=None) -> PlacementGroup:
    data = {
        "guests": [g for g in group.guests.all() if g.name not in guests],
        "hosts": [h for h in group.hosts.all() if h.name not in hosts],
    }
    return update_group(group, data, user)


@transaction.atomic
def delete_group(group: PlacementGroup, user=None) -> Event:
    notes = {"placement_group": _snapshot(group)}
    name = group.name
    group.delete()
    return record_event(Event.Action.DELETE, f"placement group {name} deleted", user=user, notes=notes)


def check_labels(guest_name: str, labels: list[str]) -> None:
    """A guest's new labels must not put it into contradictory groups (ValidationError on ``labels``)."""
    names = label_groups(labels or ())
    if not names:
        return
    specs = list(group_specs())
    members = _members_for_check(specs)
    for name in names:
        if name in members:
            members[name] = members[name] | {guest_name}
    try:
        validate_groups(specs, members)
    except GroupError as exc:
        raise ValidationError({"labels": str(exc)}) from exc


def current_violations(specs: tuple[engine_model.PlacementGroup, ...] | None = None) -> list[Violation]:
    """Every group the cluster breaks now (must and should), for the dashboard and the API."""
    specs = group_specs() if specs is None else specs
    if not specs:
        return []
    rows = Guest.objects.filter(pk__in=grouped_guest_pks()).values_list("name", "host__name", "labels")
    guests = [
        engine_model.GuestState(name=n, host=h, vcpu_count=1, vmem_size=1, cpu=None, labels=frozenset(labels or ()))
        for n, h, labels in rows
    ]
    return Placement(specs, guests).violations()
