"""Keyset pages of the event log and estimated counts: every row once, in order, whatever the ties."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automigrate import paging
from automigrate.models import Event
from automigrate.services.events import new_event, record_events


def _events(n: int, same_time_every: int = 3) -> list[int]:
    """n events, several sharing each time (ties broken by id), newest first as the log shows them."""
    now = timezone.now()
    events = []
    for i in range(n):
        event = new_event(Event.Action.SKIP, f"e{i}")
        event.time = now - timedelta(seconds=i // same_time_every)
        events.append(event)
    record_events(events)
    return list(Event.objects.order_by("-time", "-id").values_list("pk", flat=True))


@pytest.mark.django_db
def test_following_older_links_lists_every_event_once_in_order():
    expected = _events(23)
    seen, page = [], paging.keyset_page(Event.objects.all(), 5)
    while True:
        seen += [e.pk for e in page]
        if not page.has_next:
            break
        page = paging.keyset_page(Event.objects.all(), 5, before=paging.decode_cursor(page.next_cursor, "before"))
    assert seen == expected


@pytest.mark.django_db
def test_newer_links_walk_back_to_the_first_page():
    expected = _events(12)
    first = paging.keyset_page(Event.objects.all(), 4)
    second = paging.keyset_page(Event.objects.all(), 4, before=paging.decode_cursor(first.next_cursor, "b"))
    third = paging.keyset_page(Event.objects.all(), 4, before=paging.decode_cursor(second.next_cursor, "b"))
    assert not third.has_next and [e.pk for e in third] == expected[8:]
    back = paging.keyset_page(Event.objects.all(), 4, after=paging.decode_cursor(third.previous_cursor, "a"))
    assert [e.pk for e in back] == expected[4:8] and back.has_previous
    top = paging.keyset_page(Event.objects.all(), 4, after=paging.decode_cursor(back.previous_cursor, "a"))
    assert [e.pk for e in top] == expected[:4] and not top.has_previous


@pytest.mark.django_db
def test_counts_are_exact_when_small_and_capped_when_filtered():
    _events(12)
    assert paging.estimated_count(Event.objects.all()) == paging.Count(12, "exact")
    capped = paging.estimated_count(Event.objects.filter(action=Event.Action.SKIP), cap=5)
    assert capped == paging.Count(5, "at_least") and str(capped) == "more than 5"


@pytest.mark.parametrize("raw", ["abc", "bm90LWEtY3Vyc29y", paging.encode_cursor(timezone.now(), 1)[:-3]])
def test_a_cursor_we_did_not_make_is_refused_by_name(raw):
    with pytest.raises(paging.CursorError, match=r"^before: .* is not a cursor of this list"):
        paging.decode_cursor(raw, "before")


@pytest.fixture
def viewer_api(viewer):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=viewer)[0].key}")
    return client


@pytest.mark.django_db
def test_api_pages_follow_keyset_links_with_the_count_kind(viewer_api):
    expected = _events(7)
    page = viewer_api.get("/api/events/?limit=3").json()
    assert page["count"] == 7 and page["count_kind"] == "exact"
    seen = [e["id"] for e in page["results"]]
    while page["next"]:
        assert "before=" in page["next"]
        page = viewer_api.get(page["next"]).json()
        seen += [e["id"] for e in page["results"]]
    assert seen == expected
    bad = viewer_api.get("/api/events/?before=zzz")
    assert bad.status_code == 400 and "before" in bad.json()
    both = viewer_api.get(f"/api/events/?before={paging.encode_cursor(timezone.now(), 1)}&offset=3")
    assert both.status_code == 400
