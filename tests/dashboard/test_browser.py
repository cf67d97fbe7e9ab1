"""End to end in real headless Chromium: log in, read the charts, filter the log, preview a plan.

Debian's chromium, driven by Playwright for Python (browsers cannot be
downloaded here). Screenshots land in var/screenshots/ for a human to look at.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from automigrate.engine.model import CPU, MEM
from automigrate.models import HostSample
from tests.dashboard.conftest import GIB, build_cluster

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # fixed rows: automigrate.apps.ensure_fixed_rows
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests (and
    # pytest-django's flush) make around it are ordinary synchronous ones. Set only while the
    # browser lives: left set, it would fail `check --deploy` in tests that run later.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def cluster(make_host, make_guest, django_user_model):
    django_user_model.objects.create_superuser("boss", password="boss-pass-123")
    return build_cluster(make_host, make_guest)


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, live_server, next_path="/"):
    page.goto(f"{live_server.url}{next_path}")
    assert "/accounts/login/" in page.url  # anonymous: sent to the login form
    shot(page, "login")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def wait_for_chart(page, element_id):
    """The Plotly SVG exists and holds a threshold line (a shape path in .shapelayer)."""
    page.wait_for_selector(f"#{element_id} svg.main-svg")
    page.wait_for_selector(f"#{element_id} .shapelayer path", state="attached")
    return page.locator(f"#{element_id} .shapelayer path").count()


def test_overview_host_page_and_event_log(page, live_server, cluster):
    log_in(page, live_server)

    assert wait_for_chart(page, "chart-cpu") == 1
    assert wait_for_chart(page, "chart-mem") == 1
    assert page.locator("#chart-cpu .trace.bars .point").count() == 5
    hot_rows = page.locator("#overview-hosts tr.row-hot")
    assert hot_rows.count() == 2
    assert "node-001" in hot_rows.first.inner_text()
    shot(page, "overview")

    page.click("#overview-hosts a:text('node-001')")
    page.wait_for_url(f"**/hosts/{cluster.hot.pk}/")
    assert wait_for_chart(page, "chart-host") == 2  # CPU and memory thresholds
    assert page.locator("#chart-host .scatterlayer .trace").count() >= 3  # cpu, memory, move markers
    page.click("nav.segmented a:text('24h')")
    page.wait_for_url("**range=24h")
    wait_for_chart(page, "chart-host")
    assert "10.00%" in page.locator("#host-guests").inner_text()
    shot(page, "host")

    page.click("nav.mainnav a:text('Event log')")
    page.wait_for_selector("tr.event-row")
    everything = page.locator("tr.event-row").count()
    page.select_option("select[name=action]", "find_result_fail")
    page.click("#event-filters button[type=submit]")
    page.wait_for_url("**action=find_result_fail**")
    assert page.locator("tr.event-row").count() == 1 < everything
    failure = page.locator(".failure-table").inner_text()
    assert "test-69-onecloud01" in failure and "59.68%" in failure
    page.click("details.raw summary")
    assert "not found target for guest" in page.locator("details.raw pre").inner_text()
    shot(page, "events")


def test_preview_on_a_rule_shows_a_plan(page, live_server, cluster):
    log_in(page, live_server, f"/rules/{cluster.cpu_rule.pk}/")
    assert wait_for_chart(page, "chart-rule") == 1
    page.click("button:text('Preview plan')")
    page.wait_for_selector("#plan")
    plan = page.locator("#plan").inner_text()
    assert "Nothing was executed" in plan and "node-001" in plan
    shot(page, "rule-preview")

    page.click("nav.mainnav a:text('Rules')")
    page.wait_for_selector("#rules-table")
    shot(page, "rules")
    page.click("nav.mainnav a:text('Migrations')")
    page.wait_for_selector("#migrations-table")
    shot(page, "migrations")


def test_numbers_refresh_in_place_without_a_reload(page, live_server, cluster):
    log_in(page, live_server)
    wait_for_chart(page, "chart-cpu")
    assert page.inner_text("[data-testid=hot-count]") == "2"
    page.evaluate("window.__notReloaded = true")

    # node-003 turns hot: the next refresh must show 3 hot hosts in the same page.
    now = timezone.now()
    HostSample.objects.bulk_create(
        HostSample(host=cluster.hosts[2], metric=metric, time=now - timedelta(seconds=k), value=value)
        for k in range(0, 60, 5)
        for metric, value in ((CPU, 100.0), (MEM, 128.0 * GIB))
    )
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # refresh now, not in 10 s
    # A function, not an expression string: Playwright evals strings, which the CSP refuses.
    page.wait_for_function("() => document.querySelector('[data-testid=hot-count]').textContent.trim() === '3'")
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#overview-hosts tr.row-hot").count() == 3
    assert "updated" in page.inner_text("#live-status")


def test_overview_draws_partial_rules_per_bar_and_names_as_text(page, live_server, cluster, make_host):
    from automigrate.services.rules import create_rule
    from tests.dashboard.conftest import add_samples

    evil_name = "<b>bold</b><a href='https://example.invalid'>x</a>"
    evil = make_host(evil_name)
    add_samples([evil], {evil_name: 30.0}, {evil_name: 100.0 * GIB})
    few = create_rule({"name": "few", "metric": CPU, "threshold": 22.5, "period": "2m"})
    few.source_hosts.set([cluster.hosts[2], cluster.hosts[3]])
    log_in(page, live_server)

    assert wait_for_chart(page, "chart-cpu") == 1  # only the rule watching every host is a line
    assert page.locator("#chart-cpu .trace.bars .point").count() == 6
    # The partial rule: one tick per watched bar, in the threshold's red.
    assert page.locator("#chart-cpu .scatterlayer .trace .point").count() == 2
    ticks = page.locator("#chart-cpu .xtick text").all_text_contents()
    assert evil_name in ticks  # shown as typed, not as bold text and a link
    assert page.locator("#chart-cpu .xtick a, #chart-cpu .xtick [style*='bold']").count() == 0
    shot(page, "overview-partial-rule")


def csp_violations(page) -> list[str]:
    """Collects what the browser refused under the Content-Security-Policy, as it reports it."""
    seen: list[str] = []
    # The event names the directive and, with 'report-sample', the start of what was refused.
    page.add_init_script("""document.addEventListener('securitypolicyviolation', function (e) {
        console.error('Content Security Policy: ' + e.effectiveDirective + ' refused ' + e.blockedURI
                      + ' ' + JSON.stringify(e.sample));
    });""")
    page.on("console", lambda msg: seen.append(f"{page.url}: {msg.text} @ {msg.location}")
            if "Content Security Policy" in msg.text else None)
    return seen


def test_every_main_page_works_under_the_content_security_policy(page, live_server, cluster):
    violations = csp_violations(page)
    log_in(page, live_server)
    header = page.request.get(f"{live_server.url}/").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    assert directives["script-src"] == "'self'" and "unsafe" not in header

    wait_for_chart(page, "chart-cpu")
    # Plotly's own style sheet applies (filled through CSSOM into its empty <style>).
    assert page.evaluate("getComputedStyle(document.querySelector('#chart-cpu .modebar')).position") == "absolute"
    page.goto(f"{live_server.url}/hosts/{cluster.hot.pk}/")
    wait_for_chart(page, "chart-host")
    page.goto(f"{live_server.url}/rules/{cluster.cpu_rule.pk}/")
    wait_for_chart(page, "chart-rule")
    page.click("button:text('Preview plan')")
    page.wait_for_selector("#plan")
    for path, selector in (("/rules/", "#rules-table"), ("/events/", "tr.event-row"),
                           ("/migrations/", "#migrations-table")):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector(selector)
    # The widths of the meters and progress bars come through CSSOM, not refused style attributes.
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("#overview-hosts .meter-fill")
    assert page.evaluate("document.querySelector('#overview-hosts .meter-fill').style.width").endswith("%")

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#content-main")
    page.goto(f"{live_server.url}/admin/automigrate/migrationrule/{cluster.cpu_rule.pk}/change/")
    page.wait_for_selector("#migrationrule_form")
    page.goto(f"{live_server.url}/admin/automigrate/migrationrule/")
    page.wait_for_selector("#result_list")
    page.check("#action-toggle")  # the admin's own JavaScript runs: every row is selected
    assert page.locator("#result_list input.action-select:checked").count() == 2
    shot(page, "admin-under-csp")
    assert violations == []


def test_swagger_ui_renders_under_the_content_security_policy(page, live_server, cluster):
    violations = csp_violations(page)
    log_in(page, live_server)  # /api/docs/ answers anonymous callers 401, as the API does
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock-tag")
    assert page.locator(".swagger-ui .opblock").count() > 20
    page.click(".swagger-ui .opblock-summary-get >> nth=0")
    page.wait_for_selector(".swagger-ui .opblock.is-open")
    shot(page, "swagger-under-csp")
    assert violations == []
