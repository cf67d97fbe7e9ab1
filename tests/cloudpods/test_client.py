"""The thin client against the fake: login, catalog, shared token, renewal, paging, errors, bounds."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from automigrate.models import PlatformSession
from automigrate.platforms.cloudpods import client_from_settings
from automigrate.platforms.cloudpods.client import (
    CloudpodsClient,
    CloudpodsConfig,
    CloudpodsError,
    LoginFailed,
    MemoryStore,
    NotFound,
    Session,
    event_note,
)
from tests.cloudpods.conftest import point_at


def config(fake, **extra) -> CloudpodsConfig:
    return CloudpodsConfig(auth_url=fake.auth_url, username=fake.username, password=fake.password,
                           timeout_seconds=2, **extra)


def test_login_is_keystone_v3_password_auth_scoped_to_the_project(fake):
    client = CloudpodsClient(config(fake))
    session = client.login()
    (call,) = fake.calls_to("POST", "/v3/auth/tokens")
    auth = call["body"]["auth"]
    assert auth["identity"]["methods"] == ["password"]
    user = {"name": "admin", "domain": {"name": "Default"}, "password": "s3cret"}
    assert auth["identity"]["password"]["user"] == user
    assert auth["scope"] == {"project": {"name": "system", "domain": {"name": "Default"}}}
    assert session.token in fake.tokens  # from X-Subject-Token
    # compute_v2's public endpoint, not the internal one nor the v1 "compute" service.
    assert session.endpoints == {"compute_v2": fake.url + "/region", "monitor": fake.url + "/monitor"}
    assert session.expires_at > datetime.now(UTC) + timedelta(hours=23)


def test_the_auth_url_may_be_given_with_or_without_v3(fake):
    bare = CloudpodsConfig(auth_url=fake.url + "/", username="admin", password="s3cret")
    assert bare.keystone_url == fake.auth_url == config(fake).keystone_url


def test_calls_send_the_token_as_x_auth_token(fake):
    client = CloudpodsClient(config(fake))
    fake.add_host("h1")
    assert [h["name"] for h in client.hosts()] == ["h1"]
    (call,) = fake.calls_to("GET", "/region/hosts")
    assert call["token"] == client.session().token


def test_lists_follow_what_came_back_when_the_limit_is_cut_down(fake):
    for n in range(45):
        fake.add_host(f"h{n:02d}")
    hosts = CloudpodsClient(config(fake), page_size=1000).hosts()
    assert sorted(h["name"] for h in hosts) == [f"h{n:02d}" for n in range(45)]
    pages = fake.calls_to("GET", "/region/hosts")
    assert [int(c["query"]["offset"]) for c in pages] == [0, 20, 40]  # the fake's maximum is 20


def test_an_empty_list_has_no_total_and_is_empty(fake):
    assert CloudpodsClient(config(fake)).hosts() == []


def test_servers_are_listed_for_every_project_with_scope_system(fake):
    h = fake.add_host("h1")
    fake.add_server("theirs", h, project_id="another-project")
    servers = CloudpodsClient(config(fake)).servers()
    assert [s["name"] for s in servers] == ["theirs"]
    assert all(c["query"]["scope"] == "system" for c in fake.calls_to("GET", "/region/servers"))


def test_keys_that_are_zero_or_false_are_left_out(fake):
    h = fake.add_host("h1", enabled=False, cpu_count=0)
    (row,) = CloudpodsClient(config(fake)).hosts()
    assert "enabled" not in row and "cpu_count" not in row and row["id"] == h


def test_a_token_expiring_mid_batch_is_renewed_once_and_the_call_retried(fake):
    for n in range(30):
        fake.add_host(f"h{n:02d}")
    client = CloudpodsClient(config(fake), page_size=20)
    first = client.session().token
    original = client.call

    def expire_after_first_page(*args, **kwargs):
        answer = original(*args, **kwargs)
        fake.expire_tokens()
        return answer

    client.call = expire_after_first_page
    assert len(client.hosts()) == 30
    assert len(fake.calls_to("POST", "/v3/auth/tokens")) == 2
    assert client.session().token != first
    refused = [c for c in fake.calls_to("GET", "/region/hosts") if c["token"] == first]
    assert len(refused) == 2  # the first page, and the second page's 401


def test_a_token_is_renewed_before_it_expires(fake):
    store = MemoryStore()
    client = CloudpodsClient(config(fake), store)
    old = client.login()
    store.save(client.config.fingerprint, Session(old.token, datetime.now(UTC) + timedelta(minutes=2), old.endpoints))
    assert client.session().token != old.token
    assert len(fake.calls_to("POST", "/v3/auth/tokens")) == 2


def test_the_token_is_shared_through_the_database_by_every_process(cloudpods):
    cloudpods.add_host("h1")
    client_from_settings().hosts()
    client_from_settings().hosts()  # another process: a new client, the same row
    assert len(cloudpods.calls_to("POST", "/v3/auth/tokens")) == 1
    row = PlatformSession.objects.get(platform="cloudpods")
    assert row.token in cloudpods.tokens and row.endpoints["compute_v2"].endswith("/region")


def test_new_settings_do_not_reuse_the_old_token(cloudpods, settings):
    client_from_settings().session()
    point_at(settings, cloudpods, PROJECT="system", USERNAME="admin", DOMAIN="Default", REGION="region0")
    client_from_settings().session()
    assert len(cloudpods.calls_to("POST", "/v3/auth/tokens")) == 2


def test_a_wrong_password_is_one_line_naming_keystones_answer(fake):
    client = CloudpodsClient(CloudpodsConfig(auth_url=fake.auth_url, username="admin", password="nope"))
    with pytest.raises(LoginFailed) as failed:
        client.hosts()
    assert failed.value.kind == "credentials"
    assert str(failed.value) == ("Keystone refused user 'admin' (domain Default, project system):"
                                 " 401 WrongPassword: wrong password")


def test_an_unreachable_keystone_is_one_line():
    client = CloudpodsClient(CloudpodsConfig(auth_url="http://127.0.0.1:9/v3", username="a", password="b",
                                             timeout_seconds=1))
    with pytest.raises(LoginFailed) as failed:
        client.session()
    assert failed.value.kind == "unreachable"
    assert str(failed.value) == "Keystone at http://127.0.0.1:9/v3: cannot connect (Connection refused)"


def test_several_regions_need_a_choice(fake):
    fake.regions = ("region0", "region-b")
    with pytest.raises(LoginFailed, match="regions region-b, region0: set AUTOMIGRATE_CLOUDPODS_REGION"):
        CloudpodsClient(config(fake)).login()
    session = CloudpodsClient(config(fake, region="region-b")).login()
    assert session.endpoints["compute_v2"] == fake.url + "/region-region-b"
    with pytest.raises(LoginFailed, match="no public compute_v2 endpoint in region nowhere"):
        CloudpodsClient(config(fake, region="nowhere")).login()


def test_a_slow_endpoint_is_bounded(fake):
    fake.slow[("GET", "/region/hosts")] = 6.0
    client = CloudpodsClient(CloudpodsConfig(auth_url=fake.auth_url, username="admin", password="s3cret",
                                             timeout_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(CloudpodsError, match=r"^Cloudpods GET /hosts: no answer in 0\.5 s$"):
        client.hosts()
    assert time.monotonic() - started < 3


def test_errors_carry_cloudpods_details_and_404_is_not_found(fake):
    client = CloudpodsClient(config(fake))
    with pytest.raises(NotFound, match="guest nope not found"):
        client.server("nope")
    h = fake.add_host("h1")
    s = fake.add_server("vm", h, status="ready")
    with pytest.raises(CloudpodsError, match=r"^Cannot live migrate in status ready$") as refused:
        client.live_migrate(s, {"prefer_host_id": h})
    assert refused.value.status == 400


def test_operation_log_notes_are_json_quoted():
    assert event_note({"notes": '"Live migrate failed: boom"'}) == "Live migrate failed: boom"
    assert event_note({"notes": '{"a": 1}'}) == '{"a":1}'
    assert event_note({"notes": "plain text"}) == "plain text"
