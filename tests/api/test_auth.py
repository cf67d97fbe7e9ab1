"""Who may do what: anonymous 401, viewers read, operators and staff write."""

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LISTS = ["/api/hosts/", "/api/guests/", "/api/rules/", "/api/events/", "/api/migrations/", "/api/metrics/"]


@pytest.mark.parametrize("url", LISTS)
def test_anonymous_requests_get_401_with_a_token_challenge(anon_api, url):
    response = anon_api.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_writes_get_401_not_403(anon_api):
    assert anon_api.post("/api/rules/", {"name": "x", "threshold": 60}, format="json").status_code == 401


def test_a_wrong_token_gets_401(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon_api.get("/api/hosts/").status_code == 401


@pytest.mark.parametrize("url", LISTS)
def test_a_viewer_reads_everything(viewer_api, url):
    assert viewer_api.get(url).status_code == 200


def test_a_viewer_may_not_write(viewer_api, make_host):
    host = make_host("a15")
    assert viewer_api.post("/api/rules/", {"name": "x", "threshold": 60}, format="json").status_code == 403
    assert viewer_api.patch(f"/api/hosts/{host.pk}/", {"enabled": False}, format="json").status_code == 403
    assert viewer_api.delete(f"/api/hosts/{host.pk}/").status_code == 403


def test_a_logged_in_browser_session_works_too(viewer_client):
    assert viewer_client.get("/api/rules/").status_code == 200


def test_drf_create_token_makes_a_working_token(operator):
    call_command("drf_create_token", "operator", stdout=io.StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=operator).key}")
    response = client.post("/api/rules/", {"name": "by-token", "threshold": 60}, format="json")
    assert response.status_code == 201, response.json()
