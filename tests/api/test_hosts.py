"""/api/hosts/: the inventory, paged, filtered, searched and ordered."""

import pytest

from automigrate.models import Host

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_hosts(make_host):
    make_host("h3", cpu_count=16, status="offline")
    make_host("h1", cpu_count=32)
    make_host("h5", cpu_count=16)
    make_host("h2", cpu_count=64, status="maintenance")
    make_host("h4", cpu_count=16)


def names(response) -> list[str]:
    return [item["name"] for item in response.json()["results"]]


def test_hosts_are_listed_by_name_in_limit_offset_pages(viewer_api, five_hosts):
    first = viewer_api.get("/api/hosts/?limit=2")
    assert first.json()["count"] == 5
    assert names(first) == ["h1", "h2"]
    assert "offset=2" in first.json()["next"]
    assert names(viewer_api.get("/api/hosts/?limit=2&offset=4")) == ["h5"]


def test_hosts_filter_by_status(viewer_api, five_hosts):
    assert names(viewer_api.get("/api/hosts/?status=offline")) == ["h3"]
    assert names(viewer_api.get("/api/hosts/?status=offline&status=maintenance")) == ["h2", "h3"]


def test_an_unknown_status_is_a_400_naming_the_choices(viewer_api, five_hosts):
    response = viewer_api.get("/api/hosts/?status=melting")
    assert response.status_code == 400
    assert "status" in response.json()


def test_hosts_search_by_name(viewer_api, five_hosts):
    assert names(viewer_api.get("/api/hosts/?search=h4")) == ["h4"]


def test_ordering_on_a_shared_value_is_stable_across_pages(viewer_api, five_hosts):
    # Three hosts have 16 CPUs: the primary key breaks the tie, so pages never overlap.
    pages = [names(viewer_api.get(f"/api/hosts/?ordering=cpu_count&limit=1&offset={i}")) for i in range(5)]
    assert [p[0] for p in pages] == ["h3", "h5", "h4", "h1", "h2"]
    assert names(viewer_api.get("/api/hosts/?ordering=-cpu_count&limit=1")) == ["h2"]


def test_a_host_shows_how_many_guests_it_has(viewer_api, make_host, make_guest):
    host = make_host("a15")
    make_guest("vm1", host)
    make_guest("vm2", host)
    assert viewer_api.get("/api/hosts/").json()["results"][0]["guest_count"] == 2
    assert viewer_api.get(f"/api/hosts/{host.pk}/").json()["guest_count"] == 2


def test_an_operator_registers_a_host(operator_api):
    response = operator_api.post(
        "/api/hosts/", {"name": "a15", "cpu_count": 40, "mem_total": 256 * 1024**3, "labels": ["rack-2"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Host.objects.get(name="a15").labels == ["rack-2"]
    assert response.json()["guest_count"] == 0


def test_host_validation_names_each_bad_field(operator_api, make_host):
    make_host("a15")
    response = operator_api.post(
        "/api/hosts/", {"name": "a15", "cpu_count": -1, "mem_total": 1, "labels": "pinned"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "cpu_count", "labels"}


def test_deleting_a_host_with_guests_is_refused_with_409(operator_api, make_host, make_guest):
    host = make_host("a15")
    make_guest("vm1", host)
    response = operator_api.delete(f"/api/hosts/{host.pk}/")
    assert response.status_code == 409
    assert "still has guests" in response.json()["detail"]
    assert Host.objects.filter(pk=host.pk).exists()


def test_deleting_an_empty_host_works(operator_api, make_host):
    host = make_host("a15")
    assert operator_api.delete(f"/api/hosts/{host.pk}/").status_code == 204
    assert not Host.objects.exists()


def test_a_host_and_guest_with_migration_history_are_kept(operator_api, make_host, make_guest):
    from automigrate.models import Guest, Migration

    source, target = make_host("a15"), make_host("b20")
    guest = make_guest("vm1", target)
    Migration.objects.create(guest=guest, source=source, target=target, state="succeeded")
    response = operator_api.delete(f"/api/hosts/{source.pk}/")
    assert response.status_code == 409
    assert "migration history" in response.json()["detail"]
    response = operator_api.delete(f"/api/guests/{guest.pk}/")
    assert response.status_code == 409
    assert "set status=stopped" in response.json()["detail"]
    assert Host.objects.filter(pk=source.pk).exists() and Guest.objects.filter(pk=guest.pk).exists()
    assert Migration.objects.count() == 1


@pytest.mark.parametrize("listed_as", ["source_hosts", "target_hosts"])
def test_deleting_a_host_a_rule_lists_is_refused_naming_the_rule(operator_api, make_host, listed_as):
    from automigrate.models import Event
    from automigrate.services.rules import create_rule

    host, other = make_host("h1"), make_host("h2")
    rule = create_rule({"name": "test-cpu", "threshold": 60, listed_as: [host]})
    create_rule({"name": "another", "threshold": 70, "source_hosts": [other]})
    response = operator_api.delete(f"/api/hosts/{host.pk}/")
    assert response.status_code == 409
    assert response.json() == {"detail": "host h1 is listed by rule(s) test-cpu: remove it from them first"}
    # Dropping h1 from the list would have widened the rule to every host.
    assert list(getattr(rule, listed_as).all()) == [host]
    assert list(Event.objects.values_list("action", flat=True)) == ["create", "create"]


def test_every_rule_listing_a_host_is_named(operator_api, make_host):
    from automigrate.services.rules import create_rule

    host = make_host("h1")
    create_rule({"name": "watch", "threshold": 60, "source_hosts": [host]})
    create_rule({"name": "aim", "threshold": 60, "target_hosts": [host]})
    response = operator_api.delete(f"/api/hosts/{host.pk}/")
    assert response.status_code == 409
    assert "rule(s) aim, watch:" in response.json()["detail"]
