"""Brute force on the three password doors: the login page, the admin's login and /write.

Before django-axes, 200 wrong passwords followed by the right one got in at
once. Now, after AXES_FAILURE_LIMIT failures for one user from one address,
the right password is refused too, until the cool-off passes or an admin
resets the lock-out.
"""

import base64
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command

from automigrate.api import ingest

pytestmark = pytest.mark.django_db

LIMIT = 3
COOL_OFF_SECONDS = 2


@pytest.fixture(autouse=True)
def short_lockout(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(seconds=COOL_OFF_SECONDS)
    # Hundreds of PBKDF2 checks would dominate the run; the hasher is not what is tested.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ingest._credential_cache.clear()  # a cached good password must not hide a lock-out
    yield
    ingest._credential_cache.clear()


def login_page(client, password):
    return client.post("/accounts/login/", {"username": "boss", "password": password})


def admin_login(client, password):
    return client.post("/admin/login/?next=/admin/", {"username": "boss", "password": password, "next": "/admin/"})


def write_basic(client, password):
    auth = base64.b64encode(f"boss:{password}".encode()).decode()
    return client.post("/write?db=telegraf", "", content_type="text/plain", HTTP_AUTHORIZATION=f"Basic {auth}")


def write_query(client, password):
    return client.post(f"/write?db=telegraf&u=boss&p={password}", "", content_type="text/plain")


def write_influx_token(client, password):
    return client.post("/write?db=telegraf", "", content_type="text/plain", HTTP_AUTHORIZATION=f"Token boss:{password}")


def logged_in(client, response) -> bool:
    if response.status_code == 204:  # /write
        return True
    return response.status_code == 302 and "_auth_user_id" in client.session


DOORS = {
    "login page": login_page,
    "admin login": admin_login,
    "write basic auth": write_basic,
    "write u/p query": write_query,
    "write Token user:password": write_influx_token,
}


@pytest.fixture(params=sorted(DOORS))
def door(request):
    return DOORS[request.param]


def fail_until_locked(client, door):
    for attempt in range(LIMIT):
        response = door(client, f"wrong-{attempt}")
        assert not logged_in(client, response)
    return response


def test_the_right_password_works_before_any_failure(client, staff, door):
    assert logged_in(client, door(client, "boss-pass-123"))


def test_after_the_limit_even_the_right_password_is_refused(client, staff, door):
    last = fail_until_locked(client, door)
    assert last.status_code == 429
    response = door(client, "boss-pass-123")
    assert response.status_code == 429
    assert not logged_in(client, response)
    assert "locked out: too many failed logins" in response.content.decode()
    assert AccessAttempt.objects.filter(username="boss").exists()


def test_the_lock_out_ends_after_the_cool_off(client, staff, door):
    fail_until_locked(client, door)
    assert door(client, "boss-pass-123").status_code == 429
    time.sleep(COOL_OFF_SECONDS + 0.5)
    assert logged_in(client, door(client, "boss-pass-123"))


def test_axes_reset_unlocks_at_once(client, staff, door):
    fail_until_locked(client, door)
    call_command("axes_reset_username", "boss")
    assert logged_in(client, door(client, "boss-pass-123"))


def test_staff_see_the_lock_out_in_the_admin_and_can_delete_it(client, staff, django_user_model):
    fail_until_locked(client, write_basic)
    attempt = AccessAttempt.objects.get(username="boss")

    other = django_user_model.objects.create_superuser("root", password="root-pass-123")
    admin = type(client)()
    admin.force_login(other)
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "boss" in page.content.decode()
    response = admin.post("/admin/axes/accessattempt/", {
        "action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes",
    })
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert logged_in(client, write_basic(client, "boss-pass-123"))


def test_a_locked_out_write_gets_one_json_line(client, staff):
    fail_until_locked(client, write_query)
    response = write_query(client, "boss-pass-123")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"]
    assert "locked out" in body["error"] and f"limit {LIMIT}" in body["error"]
    assert int(response["Retry-After"]) == COOL_OFF_SECONDS


def test_the_lock_out_is_per_user_and_address(client, staff, operator):
    fail_until_locked(client, write_basic)
    # Another address with the same user is not locked out ...
    auth = base64.b64encode(b"boss:boss-pass-123").decode()
    elsewhere = client.post("/write?db=t", "", content_type="text/plain", HTTP_AUTHORIZATION=f"Basic {auth}",
                            REMOTE_ADDR="10.9.9.9")
    assert elsewhere.status_code == 204
    # ... nor another user from the same address.
    auth = base64.b64encode(b"operator:operator-pass-123").decode()
    other_user = client.post("/write?db=t", "", content_type="text/plain", HTTP_AUTHORIZATION=f"Basic {auth}")
    assert other_user.status_code == 204
