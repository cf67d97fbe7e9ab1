"""Template helpers: event notes for people, and units admins read at a glance."""

from django import template
from django.utils import timezone
from django.utils.html import format_html

from automigrate.models import MigrationRule
from automigrate.units import format_gib
from dashboard import notes as event_notes

register = template.Library()


@register.inclusion_tag("dashboard/_notes.html")
def render_notes(event):
    """An event's notes as a table or a line, with the raw JSON behind a <details>."""
    notes = event.notes
    context = {"event": event, "raw": event_notes.raw_json(notes)}
    failures = [parsed for text in event_notes.failure_texts(notes)
                if (parsed := event_notes.parse_find_result_fail(text)) is not None]
    if failures:
        context["failures"] = failures
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
def as_failure(text):
    """A ``find_result_fail`` note string parsed into rows, or None."""
    return event_notes.parse_find_result_fail(text if isinstance(text, str) else "")


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
