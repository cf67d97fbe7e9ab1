"""The host page's maintenance button in real headless Chromium: it asks first, then empties the host."""

import os
from pathlib import Path

import pytest
from django.utils import timezone

from automigrate.models import Host, Migration
from tests.evaluator.helpers import GIB, write_guest_samples, write_samples

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    # No serialized rollback: the test makes its own rows, and restoring migration data on top of
    # whatever an earlier transactional test left would collide (operators group).
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
                       reason=f"no chromium at {CHROMIUM} (.ci/run installs it)"),
]


@pytest.fixture
def page():
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15000)
        yield page
        browser.close()


def test_the_maintenance_button_asks_then_evacuates_and_exit_moves_nothing(page, live_server, make_host,
                                                                          make_guest, django_user_model):
    django_user_model.objects.create_superuser("boss", password="boss-pass-123")
    now = timezone.now()
    source, spare = make_host("node-a"), make_host("node-b")
    write_samples(source, now, cpu=30.0, mem=200 * GIB, seconds=600)
    write_samples(spare, now, cpu=10.0, mem=200 * GIB, seconds=600)
    for name in ("vm-1", "vm-2"):
        write_guest_samples(make_guest(name, source, vcpu_count=2, vmem_size=1024), now, 10.0, seconds=600)

    page.goto(f"{live_server.url}/hosts/{source.pk}/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-pass-123")
    page.click("button[type=submit]")
    page.wait_for_selector("#maintenance-enter")

    page.wait_for_load_state("load")  # deferred scripts, placement.js among them, have run
    # Dismissing the question sends nothing.
    asked = []

    def no(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", no)
    page.click("#maintenance-enter")
    page.wait_for_timeout(300)
    assert asked == ["Put node-a in maintenance and move every guest off it?"]
    assert Host.objects.get(pk=source.pk).status == "online" and Migration.objects.count() == 0

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#maintenance-enter")
    page.wait_for_selector("#maintenance-exit")
    assert "evacuating node-a: batch #" in page.inner_text(".messages")
    assert Host.objects.get(pk=source.pk).status == "maintenance"
    assert set(Migration.objects.values_list("guest__name", "target__name")) == {("vm-1", "node-b"),
                                                                                  ("vm-2", "node-b")}

    page.wait_for_load_state("load")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#maintenance-exit")
    page.wait_for_selector("#maintenance-enter")
    assert "nothing moves back" in page.inner_text(".messages")
    assert Host.objects.get(pk=source.pk).status == "online"
    assert Migration.objects.count() == 2
