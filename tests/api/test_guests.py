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
