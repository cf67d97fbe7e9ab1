"""Writing events: one shape for every event (``new_event``), written one or many at a time."""

from automigrate.models import Event
from automigrate.models.events import SYSTEM_USER


def actor_name(user) -> str:
    """The person who acted, or `system` for automatic actions."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_USER
    return user.get_username()


def record_event(action: str, summary: str, **described) -> Event:
    """Append one event, copying the names of what it describes as they are now.

    The copies are what every reader shows: the host, guest or rule may later
    be renamed or deleted, and the event must still say what happened to whom.
    ``described``: the keyword arguments of ``new_event`` (rule, user, guest, hosts, migration, notes).
    """
    event = new_event(action, summary, **described)
    event.save()
    return event


def record_events(events: list[Event]) -> list[Event]:
    """Append several events (from ``new_event``) in one INSERT, in list order.

    An evaluation's query count then stays the same whether one host or 500
    could not be relieved.
    """
    if not events:
        return []
    created = Event.objects.bulk_create(events)
    # bulk_create sends no post_save: hand them to the notifications as apps.py does for one event.
    from automigrate.services import notify

    notify.on_events(created)
    return created


def new_event(
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
    """An unsaved event with the same copied names as ``record_event`` writes."""
    return Event(
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
