"""Every policy the engine can plan with, by name.

Everything that lists or checks policy names (``plan()``, the replay, the
``plan`` and ``simulate`` commands) reads ``POLICIES`` from here, so a new
policy is one class added to ``REGISTRY``.
"""

from __future__ import annotations

from automigrate.engine.baselines import MMT, Sandpiper
from automigrate.engine.policies import Automigrate, Classic, Policy

REGISTRY: dict[str, type[Policy]] = {cls.name: cls for cls in (Automigrate, Classic, MMT, Sandpiper)}
POLICIES: tuple[str, ...] = tuple(REGISTRY)


def get_policy(name: str) -> Policy:
    """The policy called ``name``; ValueError naming the allowed ones otherwise."""
    cls = REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown policy {name!r}: use one of {', '.join(POLICIES)}")
    return cls()


def descriptions() -> dict[str, str]:
    """Name → one-line description, in registry order (for --help and docs)."""
    return {name: cls.description for name, cls in REGISTRY.items()}
