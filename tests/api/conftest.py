"""API clients authenticated the way scripts do it: with a token."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def anon_api(db) -> APIClient:
    return APIClient()


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    return _token_client(viewer)


@pytest.fixture
def operator_api(operator) -> APIClient:
    return _token_client(operator)


@pytest.fixture
def staff_api(staff) -> APIClient:
    return _token_client(staff)


@pytest.fixture
def hot_cluster(make_host, make_guest):
    """a15 busy at 90 % CPU with two 8-vCPU guests at 99 %; b20 nearly idle. Samples over the last 2 minutes.

    Moving both guests (19.8 % of a15 each) brings a15 under 60 % and keeps b20 under it.
    """
    from datetime import timedelta

    from django.utils import timezone

    from automigrate.models import GuestSample, HostSample

    now = timezone.now()
    hot, cool = make_host("a15", cpu_count=40), make_host("b20", cpu_count=40)
    guests = [make_guest(name, hot, vcpu_count=8, vmem_size=1024) for name in ("vm1", "vm2")]
    for seconds in range(5, 120, 10):
        at = now - timedelta(seconds=seconds)
        HostSample.objects.bulk_create([
            HostSample(host=hot, metric="cpu.usage_active", time=at, value=90.0),
            HostSample(host=cool, metric="cpu.usage_active", time=at, value=10.0),
            HostSample(host=hot, metric="mem.available", time=at, value=200 * 1024**3),
            HostSample(host=cool, metric="mem.available", time=at, value=200 * 1024**3),
        ])
        GuestSample.objects.bulk_create([GuestSample(guest=guest, time=at, cpu=99.0) for guest in guests])
    return {"hot": hot, "cool": cool, "guests": guests}
