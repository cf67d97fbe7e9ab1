"""Names to classes for the three pluggable kinds: platforms, drivers, metric sources.

Each setting takes a short name from its registry or the dotted path of a
class; anything else is one ImproperlyConfigured line naming the setting and
what it may be. The system check calls the same functions, so a typo is
reported at start-up rather than by the first batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

T = TypeVar("T")


def resolve(name: str, registry: Mapping[str, str], base: type[T], *, setting: str, noun: str) -> type[T]:
    """The subclass of ``base`` that ``name`` stands for (a short name or a dotted path)."""
    try:
        found = import_string(registry.get(name, name))
    except ImportError as exc:
        found, why = None, f" ({str(exc).splitlines()[0]})" if "." in name else ""
    else:
        why = "" if isinstance(found, type) and issubclass(found, base) else f" (not a {base.__name__})"
    if why or found is None:
        raise ImproperlyConfigured(
            f"{setting}={name!r} is not a {noun}{why}: use {', '.join(registry)},"
            f" or the dotted path of a {base.__name__} class"
        )
    return found
