"""Template helpers: event notes for people, and units admins read at a glance."""

from django import template
from django.utils import timezone
from django.utils.html import format_html

from automigrate import clock
from automigrate.models import MigrationRule
from automigrate.units import format_gib
from dashboard import notes as event_notes

register = template.Library()


@register.inclusion_tag("dashboard/_notes.html")
def render_notes(event):
    """An event's notes as a table or a line, with the raw JSON behind a <details>."""
    notes = event.notes
    context = {"event": event, "raw": event_notes.raw_json(notes)}
    if isinstance(notes, dict) and isinstance(notes.get("candidates"), list):
        context["candidates"] = [c for c in notes["candidates"] if isinstance(c, dict)]
    failures = event_notes.failure_tables(notes)
    if failures:
        context["failures"] = failures
        return context
    if event.action == "find_result_fail":
        legacy = event_notes.legacy_failure_texts(notes)
        if legacy:
            context["legacy_failures"] = legacy
            context["items"] = [(k, v) for k, v in event_notes.scalar_items(notes) if k != "notes"]
            return context
    moves = event_notes.parse_moves(notes)
    if moves:
        context["moves"] = moves
        context["items"] = event_notes.scalar_items(notes)
        return context
    changes = event_notes.parse_changes(notes)
    if changes:
        context["changes"] = changes
        return context
    if isinstance(notes, str):
        context["text"] = notes
    else:
        context["items"] = event_notes.scalar_items(notes)
    return context


@register.filter
def gib(num_bytes):
    """Bytes as GiB with one decimal; blank for missing values."""
    if num_bytes is None or num_bytes == "":
        return "—"
    return format_gib(float(num_bytes))


@register.filter
def pct(value, digits=1):
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}f}%"


@register.filter
def seconds(value):
    """A duration in seconds as 45s, 3m 20s or 2h 05m."""
    if value is None:
        return "—"
    total = round(float(value))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m {total % 60:02d}s"
    return f"{total // 3600}h {total % 3600 // 60:02d}m"


@register.filter
def since(value):
    """Seconds elapsed since a datetime."""
    if value is None:
        return None
    return (timezone.now() - value).total_seconds()


@register.filter
def percent_of(fraction):
    """0.42 -> 42 (for CSS widths)."""
    if fraction is None:
        return 0
    return round(100 * float(fraction))


@register.filter
def threshold(value, metric):
    """A threshold as rules are written: 60% for CPU, 16G for memory (MigrationRule.threshold_display)."""
    if value is None or value == "":
        return "—"
    return MigrationRule(metric=metric, threshold=float(value)).threshold_display


@register.filter
def state_label(value):
    return str(value or "").replace("_", " ")


@register.simple_tag(takes_context=True)
def sort_header(context, key, label, default_descending=True):
    """A column header linking to this page sorted by ``key``; a second click flips the direction."""
    current = context.get("sort", "")
    params = context["request"].GET.copy()
    params.pop("page", None)
    if current.lstrip("-") == key:
        descending = not current.startswith("-")
        arrow = " ▼" if current.startswith("-") else " ▲"
    else:
        descending = default_descending
        arrow = ""
    params["sort"] = f"-{key}" if descending else key
    return format_html('<a class="sort" href="?{}">{}{}</a>', params.urlencode(), label, arrow)


@register.filter
def as_failure(failure):
    """A plan's Failure (or its records from event notes) as table rows, or None if it has no records."""
    return event_notes.failure_table(failure)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def when(value, seconds=False):
    """A time in the one format with its zone (automigrate.clock), as a <time> element; '—' if missing."""
    if value is None or value == "":
        return "—"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), clock.show(value, with_seconds=seconds))


@register.filter
def clock_text(value, seconds=False):
    """The same text as ``{% when %}``, for attributes and plain text."""
    return clock.show(value, with_seconds=bool(seconds)) if value else ""


@register.simple_tag
def display_zone():
    """The active display zone's name, for labels: "Since (Europe/Berlin)"."""
    return clock.zone_label()


@register.filter
def ago(value):
    """How long ago, never "0 minutes ago": "just now", "45 s ago", "3 min ago", "2 h 5 min ago", "3 days ago"."""
    if value is None:
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago"


@register.simple_tag
def now_clock():
    """The header clock's first text; live.js replaces it with the server's time at each refresh."""
    return clock.show(timezone.now(), with_seconds=True)


@register.filter
def mib_gib(mib):
    """A guest's memory (MiB, as vmem_size) as GiB, like every other size on the pages."""
    if mib is None or mib == "":
        return "—"
    return f"{float(mib) / 1024:.1f} GiB"
