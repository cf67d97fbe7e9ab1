"""/api/guests/: VMs, named by their host's name."""

import pytest

from automigrate.models import Guest

pytestmark = pytest.mark.django_db


def test_guests_filter_by_host_name_and_status(viewer_api, make_host, make_guest):
    a, b = make_host("a15"), make_host("b20")
    make_guest("vm1", a)
    make_guest("vm2", b)
    make_guest("vm3", a, status="stopped")
    response = viewer_api.get("/api/guests/?host=a15&status=running")
    assert [g["name"] for g in response.json()["results"]] == ["vm1"]
    assert response.json()["results"][0]["host"] == "a15"


def test_guests_order_by_memory(viewer_api, make_host, make_guest):
    host = make_host("a15")
    make_guest("big", host, vmem_size=16384)
    make_guest("small", host, vmem_size=1024)
    response = viewer_api.get("/api/guests/?ordering=-vmem_size")
    assert [g["name"] for g in response.json()["results"]] == ["big", "small"]


def test_an_operator_creates_a_guest_on_a_host_by_name(operator_api, make_host):
    make_host("a15")
    response = operator_api.post(
        "/api/guests/", {"name": "vm1", "host": "a15", "vcpu_count": 8, "vmem_size": 8192}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert Guest.objects.get(name="vm1").host.name == "a15"


def test_a_guest_on_an_unknown_host_is_refused_naming_the_field(operator_api):
    response = operator_api.post(
        "/api/guests/", {"name": "vm1", "host": "nowhere", "vcpu_count": 8, "vmem_size": 8192}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["host"]


def test_deleting_a_guest_a_rule_lists_is_refused_naming_the_rule(operator_api, make_host, make_guest):
    from automigrate.services.rules import create_rule

    guest = make_guest("vm1", make_host("a15"))
    rule = create_rule({"name": "test-cpu", "threshold": 60, "source_guests": [guest]})
    response = operator_api.delete(f"/api/guests/{guest.pk}/")
    assert response.status_code == 409
    assert response.json() == {"detail": "guest vm1 is listed by rule(s) test-cpu: remove it from them first"}
    assert list(rule.source_guests.all()) == [guest]


def test_deleting_an_unlisted_guest_works(operator_api, make_host, make_guest):
    guest = make_guest("vm1", make_host("a15"))
    assert operator_api.delete(f"/api/guests/{guest.pk}/").status_code == 204
    assert not Guest.objects.exists()
