"""Writing events: one function, so every event has the same shape."""

from automigrate.models import Event
from automigrate.models.events import SYSTEM_USER


def actor_name(user) -> str:
    """The person who acted, or `system` for automatic actions."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_USER
    return user.get_username()


def record_event(
    action: str,
    summary: str,
    *,
    rule=None,
    rule_ref: int | None = None,
    rule_name: str = "",
    user=None,
    guest=None,
    source_host=None,
    target_host=None,
    migration=None,
    notes: dict | None = None,
) -> Event:
    """Append one event, copying the names of what it describes as they are now.

    The copies are what every reader shows: the host, guest or rule may later
    be renamed or deleted, and the event must still say what happened to whom.
    """
    return Event.objects.create(
        action=action,
        summary=summary,
        rule=rule,
        rule_ref=rule.pk if rule is not None else rule_ref,
        rule_name=rule.name if rule is not None else rule_name,
        user=actor_name(user) if not isinstance(user, str) else user,
        guest=guest,
        guest_name=_name(guest),
        source_host=source_host,
        source_host_name=_name(source_host),
        target_host=target_host,
        target_host_name=_name(target_host),
        migration=migration,
        notes=notes or {},
    )


def _name(obj) -> str:
    return "" if obj is None else obj.name
