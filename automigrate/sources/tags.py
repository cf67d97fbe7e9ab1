"""How a series names its host or guest: one definition for /write and for every external source.

A sample's host is the value of the first tag present from
``AUTOMIGRATE["INGEST_HOST_TAGS"]`` (default ``host_id``, then ``host``), its
guest the first of ``["INGEST_GUEST_TAGS"]`` (default ``vm_id``). That value
is matched against a host's (guest's) name first, then its external id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db.models import Model, Q


def host_tags() -> list[str]:
    return list(settings.AUTOMIGRATE["INGEST_HOST_TAGS"])


def guest_tags() -> list[str]:
    return list(settings.AUTOMIGRATE["INGEST_GUEST_TAGS"])


def first_tag(tags: Mapping[str, str], names: Iterable[str]) -> str | None:
    """The value of the first of ``names`` present (and non-empty) in ``tags``."""
    for name in names:
        value = tags.get(name)
        if value:
            return value
    return None


def keys_of(rows: Iterable[tuple[int, str, str]]) -> dict[str, int]:
    """Tag value -> pk from (pk, name, external_id) rows: a name wins over another row's external id."""
    by_name: dict[str, int] = {}
    by_external: dict[str, int] = {}
    for pk, name, external_id in rows:
        by_name[name] = pk
        if external_id:
            by_external.setdefault(external_id, pk)
    return {**by_external, **by_name}


def match_keys(model: type[Model], keys: set[str]) -> dict[str, int]:
    """Tag value -> primary key for the given values, by name first, then by external id."""
    if not keys:
        return {}
    rows = model.objects.filter(Q(name__in=keys) | Q(external_id__in=keys)).values_list("pk", "name", "external_id")
    return {key: pk for key, pk in keys_of(rows).items() if key in keys}
