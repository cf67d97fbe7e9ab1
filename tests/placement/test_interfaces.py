"""Groups, violations, repair and maintenance through the API, admin and the CLI: same checks, same events."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from automigrate.models import Event, Guest, Host, PlacementGroup
from automigrate.services.placement import create_group
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def small(make_host, make_guest):
    now = timezone.now()
    hosts = [make_host(f"h{i}") for i in range(1, 4)]
    for h in hosts:
        write_samples(h, now, cpu=10.0, mem=200 * GIB)
    guests = {name: make_guest(name, hosts[0], vcpu_count=2, vmem_size=1024) for name in ("db-1", "db-2", "ora-1")}
    for g in guests.values():
        write_guest_samples(g, now, 10.0)
    return hosts, guests


def test_api_creates_lists_and_deletes_groups_with_events(operator, small):
    client = api(operator)
    response = client.post("/api/groups/", {"name": "db", "kind": "anti-affinity", "guests": ["db-1", "db-2"]},
                           format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["strength"] == "must" and body["guests"] == ["db-1", "db-2"]
    assert Event.objects.get(action="create").summary.startswith("placement group db created")
    assert client.get("/api/groups/").json()["results"][0]["name"] == "db"
    patched = client.patch(f"/api/groups/{body['id']}/", {"strength": "should"}, format="json")
    assert patched.status_code == 200 and patched.json()["strength"] == "should"
    assert client.delete(f"/api/groups/{body['id']}/").status_code == 204
    assert Event.objects.filter(action="delete", summary="placement group db deleted").exists()


@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"kind": "together"}, "kind", "'together' is not a kind: use anti-affinity, affinity"),
    ({"strength": "maybe"}, "strength", "use must or should"),
    ({"guests": ["nobody"]}, "guests", "unknown guest 'nobody'"),
    ({"kind": "host-affinity", "hosts": ["h9"]}, "hosts", "unknown host 'h9'"),
    ({"kind": "host-affinity"}, "hosts", "needs at least one host"),
    ({"hosts": ["h1"]}, "hosts", "only host-affinity and host-anti-affinity"),
    ({"name": "bad name"}, "name", "letters, digits"),
])
def test_api_refuses_bad_groups_naming_the_field(operator, small, fields, field, says):
    data = {"name": "g", "kind": "anti-affinity", "guests": ["db-1"], **fields}
    response = api(operator).post("/api/groups/", data, format="json")
    assert response.status_code == 400
    assert says in " ".join(response.json()[field])
    assert not PlacementGroup.objects.exists()


def test_contradictory_must_groups_are_refused_by_api_admin_and_cli(operator, staff_client, small):
    create_group({"name": "lic", "kind": "host-affinity", "guests": ["ora-1"], "hosts": ["h1"]})
    contradiction = {"name": "no-h1", "kind": "host-anti-affinity", "guests": ["ora-1"], "hosts": ["h1"]}
    response = api(operator).post("/api/groups/", contradiction, format="json")
    assert response.status_code == 400
    assert "ora-1 must be on h1 and must not be" in json.dumps(response.json())
    hosts = {h.name: h.pk for h in Host.objects.all()}
    page = staff_client.post(reverse("admin:automigrate_placementgroup_add"), {
        "name": "no-h1", "kind": "host-anti-affinity", "strength": "must",
        "guests": [Guest.objects.get(name="ora-1").pk], "hosts": [hosts["h1"]],
    })
    assert page.status_code == 200 and "must be on h1 and must not be" in page.content.decode()
    with pytest.raises(CommandError, match="must be on h1 and must not be"):
        call_command("group", "create", "no-h1", "host-anti-affinity", "--guest", "ora-1", "--host", "h1")
    assert PlacementGroup.objects.count() == 1


def test_admin_adds_a_group_and_records_it(staff_client, small):
    guests = [Guest.objects.get(name=n).pk for n in ("db-1", "db-2")]
    page = staff_client.post(reverse("admin:automigrate_placementgroup_add"),
                             {"name": "db", "kind": "anti-affinity", "strength": "must", "guests": guests})
    assert page.status_code == 302
    assert Event.objects.get(action="create").user == "boss"
    assert staff_client.get(reverse("admin:automigrate_blackoutwindow_add")).status_code == 200


def test_viewers_read_groups_but_cannot_change_them(viewer, small):
    client = api(viewer)
    assert client.get("/api/groups/").status_code == 200
    assert client.get("/api/groups/violations/").status_code == 200
    assert client.post("/api/groups/", {"name": "db", "kind": "affinity"}, format="json").status_code == 403
    assert client.post("/api/groups/repair/", {}, format="json").status_code == 403
    host = Host.objects.get(name="h1")
    assert client.post(f"/api/hosts/{host.pk}/maintenance/", {"action": "enter"}, format="json").status_code == 403


def test_violations_and_repair_through_the_api(operator, small):
    create_group({"name": "db", "kind": "anti-affinity", "guests": ["db-1", "db-2"]})
    client = api(operator)
    [violation] = client.get("/api/groups/violations/").json()
    assert violation["group"] == "db" and violation["hosts"] == ["h1"]
    repaired = client.post("/api/groups/repair/", {}, format="json").json()
    assert repaired["batch"] is not None and len(repaired["moves"]) == 1


def test_maintenance_through_the_api(operator, small):
    host = Host.objects.get(name="h1")
    client = api(operator)
    entered = client.post(f"/api/hosts/{host.pk}/maintenance/", {"action": "enter"}, format="json")
    assert entered.status_code == 200, entered.json()
    assert len(entered.json()["moves"]) == 3 and entered.json()["left"] == []
    assert Host.objects.get(pk=host.pk).status == "maintenance"
    left = client.post(f"/api/hosts/{host.pk}/maintenance/", {"action": "exit"}, format="json")
    assert left.status_code == 200 and Host.objects.get(pk=host.pk).status == "online"
    again = client.post(f"/api/hosts/{host.pk}/maintenance/", {"action": "exit"}, format="json")
    assert again.status_code == 409 and "not in maintenance" in again.json()["detail"]


def cli(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_group_cli_round_trip(small):
    assert "anti-affinity" in cli("group", "create", "db", "anti-affinity", "--guest", "db-1")
    assert "db-1,db-2" in cli("group", "add", "db", "--guest", "db-2")
    assert "db | anti-affinity" in cli("group", "list").replace("  ", " ").replace("  ", " ")
    assert "anti-affinity group db (must): db-1, db-2 share h1" in cli("group", "violations")
    assert "db-2" not in cli("group", "remove", "db", "--guest", "db-2").split("guests")[1].split("\n")[0]
    with pytest.raises(CommandError, match="no group named 'nope'"):
        cli("group", "show", "nope")
    with pytest.raises(CommandError, match="kind: 'nope' is not a kind"):
        cli("group", "create", "x", "nope")
    assert "deleted group db" in cli("group", "delete", "db")


def test_host_maintenance_cli(small):
    assert "evacuating h1: batch #" in cli("host", "maintenance", "enter", "h1")
    assert "leaves maintenance" in cli("host", "maintenance", "exit", "h1")
    with pytest.raises(CommandError, match="no host named 'h9'"):
        cli("host", "maintenance", "enter", "h9")


def test_rule_windows_through_the_api(operator):
    client = api(operator)
    bad = client.post("/api/rules/", {"name": "r", "threshold": 60, "allowed_windows": "Mon 9-5"}, format="json")
    assert bad.status_code == 400 and "allowed_windows" in bad.json()
    good = client.post("/api/rules/", {"name": "r", "threshold": 60, "allowed_windows": "Mon-Fri 22:00-06:00"},
                       format="json")
    assert good.status_code == 201 and good.json()["allowed_windows"] == "Mon-Fri 22:00-06:00"


def test_a_label_that_would_contradict_must_groups_is_refused(operator, small):
    create_group({"name": "lic", "kind": "host-affinity", "guests": ["ora-1"], "hosts": ["h1"]})
    create_group({"name": "away", "kind": "host-anti-affinity", "guests": [], "hosts": ["h1"]})
    guest = Guest.objects.get(name="ora-1")
    response = api(operator).patch(f"/api/guests/{guest.pk}/", {"labels": ["group:away"]}, format="json")
    assert response.status_code == 400 and "must be on h1 and must not be" in " ".join(response.json()["labels"])
    ok = api(operator).patch(f"/api/guests/{guest.pk}/", {"labels": ["group:nothing", "pinned"]}, format="json")
    assert ok.status_code == 200
