"""The operator's day in real Chromium at a phone's 390×844 and a desktop's 1440×900.

No page scrolls sideways; every nav link is visible and reachable by keyboard; axe-core
finds no contrast failure; charts have a text alternative and their toolbars stay out of
the Tab order; every time in a table carries its zone; a partial recommendation is
approved from the rule page and from the overview. Screenshots: var/screenshots/after-*.png.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from automigrate.models import Event, GuestSample, MigrationRule, UserPreference
from automigrate.services import evaluate
from tests.dashboard.conftest import GIB, add_samples, build_cluster

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"phone": (390, 844), "desktop": (1440, 900)}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def _need(path: Path, why: str) -> None:
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} missing: {why}")
        pytest.skip(f"{path} missing: {why}")


@pytest.fixture(scope="module")
def browser():
    _need(Path(CHROMIUM), "Debian's chromium (.ci/run installs it)")
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def cluster(make_host, make_guest, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="boss-pass-123")
    cluster = build_cluster(make_host, make_guest)
    # A second hot host whose one 40-vCPU guest fits on no other host: plans are partial.
    stuck = make_host("node-stuck")
    add_samples([stuck], {stuck.name: 100.0}, {stuck.name: 128.0 * GIB})
    whale = make_guest("whale", stuck, vcpu_count=40)
    now = timezone.now()
    GuestSample.objects.bulk_create(GuestSample(guest=whale, time=now - timedelta(seconds=30 * k), cpu=100.0)
                                    for k in range(4))
    MigrationRule.objects.filter(pk=cluster.cpu_rule.pk).update(mode=MigrationRule.Mode.RECOMMEND)
    cluster.cpu_rule.refresh_from_db()
    cluster.user = user
    return cluster


def _open(browser, live_server, size: str):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return context, page


def _pages(cluster) -> dict[str, str]:
    return {
        "overview": reverse("dashboard:overview"),
        "host": reverse("dashboard:host", args=[cluster.hot.pk]),
        "rules": reverse("dashboard:rules"),
        "rule": reverse("dashboard:rule", args=[cluster.cpu_rule.pk]),
        "events": reverse("dashboard:events"),
        "migrations": reverse("dashboard:migrations"),
        "preferences": reverse("dashboard:preferences"),
    }


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")
    for chart in page.locator(".chart").all():
        chart.locator("svg.main-svg").first.wait_for(state="attached")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"after-{name}.png"), full_page=True)


def _axe_contrast(page) -> list:
    page.evaluate(AXE.read_text())  # through the devtools protocol: no inline script for the page's CSP
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['color-contrast']})).violations"
        ".flatMap(v => v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary))"
    )
    return result


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_has_contrast_and_a_keyboard_path(browser, live_server, cluster, size):
    _need(AXE, "axe-core from npm (.ci/run runs npm ci)")
    evaluate.evaluate_rule(cluster.cpu_rule)  # a pending recommendation on overview and rules
    context, page = _open(browser, live_server, size)
    try:
        for name, path in _pages(cluster).items():
            page.goto(f"{live_server.url}{path}")
            _settle(page)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES[size][0], f"{name} at {size} is {width} px wide"
            assert _axe_contrast(page) == [], f"contrast failures on {name} at {size}"
            # Charts: a text alternative, and no Plotly toolbar button in the Tab order.
            for chart in page.locator(".chart").all():
                assert len(chart.get_attribute("aria-label") or "") > 20, name
            tabbable = ".chart [tabindex]:not([tabindex='-1']), .chart a[href]:not([tabindex='-1'])"
            assert page.locator(tabbable).count() == 0, name
            shot(page, f"{name}-{size}")
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_every_nav_link_is_visible_and_reachable_by_keyboard(browser, live_server, cluster, size):
    context, page = _open(browser, live_server, size)
    try:
        page.goto(f"{live_server.url}/rules/")
        toggle = page.locator(".nav-toggle")
        if size == "phone":
            assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
            assert not page.locator("nav.mainnav a").first.is_visible()  # collapsed
        links = ["Overview", "Rules", "Event log", "Migrations", "Admin"]
        reached, seen_toggle = [], False
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        for _ in range(20):
            page.keyboard.press("Tab")
            focused = page.evaluate("[document.activeElement.className, document.activeElement.textContent.trim()]")
            if focused[0] == "nav-toggle" and not seen_toggle:
                seen_toggle = True
                page.keyboard.press("Enter")  # opens the menu from the keyboard
                continue
            if focused[1] in links:
                reached.append(focused[1])
            if focused[1] == "Log out":
                break
        assert reached == links, reached
        assert page.get_attribute("nav.mainnav a[aria-current=page]", "href") == "/rules/"
        viewport_width = SIZES[size][0]
        for text in [*links, "Log out"]:
            element = page.locator(f".topnav :text-is('{text}')").first
            box = element.bounding_box()
            assert element.is_visible() and box and box["x"] >= 0 and box["x"] + box["width"] <= viewport_width, text
        shot(page, f"nav-open-{size}")
    finally:
        context.close()


TIME_WITH_ZONE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? [A-Z]{2,5}$|^[+-]\d\d$")


def test_times_carry_their_zone_in_every_table_and_follow_the_users_choice(browser, live_server, cluster):
    UserPreference.objects.create(user=cluster.user, time_zone="Europe/Berlin")
    evaluate.evaluate_rule(cluster.cpu_rule)
    context, page = _open(browser, live_server, "desktop")
    try:
        for name, path in _pages(cluster).items():
            page.goto(f"{live_server.url}{path}")
            texts = page.locator("table time").all_inner_texts()
            for text in texts:
                assert TIME_WITH_ZONE.match(text) and text.endswith("CET"), (name, text)
            cells = page.locator("table td").all_inner_texts()
            bare = [c for c in cells if re.search(r"\b\d\d:\d\d\b(?!(:\d\d)? [A-Z])", c) and "raw JSON" not in c]
            assert bare == [], (name, bare[:3])
        page.goto(f"{live_server.url}/events/")
        assert "Since (Europe/Berlin)" in page.text_content("#event-filters")
        assert page.inner_text("#live-status").endswith("CET")
        page.goto(f"{live_server.url}/events/?since=yesterday-ish")
        assert "since: Enter a valid date/time" in page.inner_text("[data-testid=filter-error]")
        page.goto(f"{live_server.url}/admin/automigrate/event/")
        first_time = page.locator("#result_list .field-time").first.inner_text()
        assert TIME_WITH_ZONE.match(first_time) and first_time.endswith("CET"), first_time
    finally:
        context.close()


@pytest.mark.parametrize("where", ["rule", "overview"])
def test_a_partial_recommendation_is_approved_from_the_page(browser, live_server, cluster, where):
    evaluate.evaluate_rule(cluster.cpu_rule)
    recommendation = Event.objects.get(rule_ref=cluster.cpu_rule.pk, action=Event.Action.RECOMMEND)
    assert recommendation.notes["unrelieved"], "the cluster must make a partial plan"
    context, page = _open(browser, live_server, "phone" if where == "overview" else "desktop")
    try:
        path = reverse("dashboard:overview") if where == "overview" else reverse("dashboard:rule",
                                                                                 args=[cluster.cpu_rule.pk])
        page.goto(f"{live_server.url}{path}")
        row = page.locator("[data-testid=pending-recommendation]").first
        assert "partial" in row.inner_text()
        shot(page, f"pending-{where}")
        row.locator("button:text('Approve')").click()
        page.wait_for_selector(".msg-success")
        assert f"Approved recommendation #{recommendation.pk}" in page.inner_text(".messages")
        assert page.url.endswith(path)
        assert Event.objects.filter(action=Event.Action.APPROVE, notes__recommendation=recommendation.pk).exists()
        assert page.locator("[data-testid=pending-recommendation] button").count() == 0
    finally:
        context.close()
