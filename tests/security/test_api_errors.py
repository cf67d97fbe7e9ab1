"""/api/ and /write answer every error as one JSON line; nested or oversized bodies are a 400 naming the problem."""

import json

import pytest
from rest_framework.authtoken.models import Token

from automigrate.api.parsers import MAX_DEPTH, nesting_depth
from automigrate.api.views import HostViewSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, staff):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=staff).key}"
    client.raise_request_exception = False
    return client


def one_line(response, key="detail") -> str:
    assert response["Content-Type"] == "application/json", response.content[:300]
    body = response.json()
    assert list(body) == [key] and isinstance(body[key], str) and "\n" not in body[key], body
    return body[key]


@pytest.mark.parametrize("path", ["/api/hosts/", "/api/rules/", "/api/guests/"])
def test_a_deeply_nested_body_is_a_400_not_a_recursion_error(api, path):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert one_line(response) == f"JSON parse error: nested too deeply (at most {MAX_DEPTH} levels)"


def test_nesting_just_deeper_than_allowed_is_refused_and_within_it_reaches_validation(api):
    labels = json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    too_deep = {"name": "h1", "cpu_count": 4, "mem_total": 1024, "labels": labels}
    response = api.post("/api/hosts/", too_deep, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in one_line(response)
    shallow = {**too_deep, "labels": [["x"]]}
    response = api.post("/api/hosts/", shallow, content_type="application/json")
    assert response.status_code == 400 and "labels" in response.json()  # the serializer's own message


def test_nesting_depth_counts_without_recursion():
    assert nesting_depth(1) == 0
    assert nesting_depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert nesting_depth(deep) > MAX_DEPTH


def test_an_oversized_body_is_a_400_naming_the_limit(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"name": "h1", "cpu_count": 4, "mem_total": 1024, "external_id": "x" * 20_000})
    response = api.post("/api/hosts/", body, content_type="application/json")
    assert response.status_code == 400
    assert one_line(response) == f"request body too large: {len(body)} bytes, at most 10000"


def test_write_keeps_its_own_larger_limit(client, operator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    token = Token.objects.create(user=operator).key
    response = client.post("/write?db=t", "# a comment line, longer than ten bytes", content_type="text/plain",
                           HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 204


@pytest.mark.parametrize("debug", [False, True])
def test_an_unhandled_exception_under_api_is_a_json_500(api, monkeypatch, settings, debug):
    settings.DEBUG = debug

    def boom(self, request, *args, **kwargs):
        raise RuntimeError("something unexpected")

    monkeypatch.setattr(HostViewSet, "list", boom)
    response = api.get("/api/hosts/")
    assert response.status_code == 500
    assert one_line(response) == "internal error: RuntimeError (logged)"


@pytest.mark.parametrize("debug", [False, True])
def test_a_path_outside_the_router_is_a_json_404(api, settings, debug):
    settings.DEBUG = debug
    response = api.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert one_line(response) == "not found: /api/no-such-thing/"


def test_pages_keep_html_errors(client, staff):
    client.force_login(staff)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_write_errors_use_influxdbs_error_key(client):
    response = client.get("/write")
    assert response.status_code == 405 and one_line(response, "error") == "use POST /write"
