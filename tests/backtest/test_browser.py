"""The Backtest button in real headless Chromium: queued, progress polled by backtest.js, then table and chart."""

import pytest

from automigrate import tasks
from automigrate.models import BacktestRun
from tests.dashboard.test_browser import CHROMIUM, csp_violations, shot

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}"),
]


@pytest.fixture
def page():
    from tests.dashboard.test_browser import CHROMIUM_ARGS

    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(20000)
        yield page
        browser.close()


def test_an_operator_presses_backtest_watches_progress_and_gets_the_chart(page, live_server, operator, cpu_rule,
                                                                          monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.run_backtest, "delay", sent.append)  # the worker is this test, below
    violations = csp_violations(page)
    page.goto(f"{live_server.url}/rules/{cpu_rule.pk}/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "operator-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/rules/{cpu_rule.pk}/")
    page.select_option("#backtest-since", "1d")
    page.click("[data-testid=backtest-button]")
    page.wait_for_selector("[data-testid=backtest-progress]")
    assert page.is_disabled("[data-testid=backtest-button]")
    shot(page, "backtest-queued")
    run = BacktestRun.objects.get()
    assert sent == [run.pk] and run.state == "queued"
    tasks.run_backtest.apply(args=[run.pk])  # what the worker does; the page is still polling
    page.wait_for_selector("[data-testid=backtest-table]")
    page.wait_for_selector("#chart-backtest svg.main-svg")
    page.wait_for_selector("#chart-backtest .scatterlayer .trace", state="attached")
    legend = page.text_content("#chart-backtest .legend")  # SVG: no inner_text
    assert "without the rule" in legend and "with the rule (automigrate)" in legend
    assert "none (without the rule)" in page.inner_text("[data-testid=backtest-table]")
    assert not page.is_disabled("[data-testid=backtest-button]")
    shot(page, "backtest-done")
    page.reload()  # a finished run is drawn from the page's embedded figures
    page.wait_for_selector("#chart-backtest .scatterlayer .trace", state="attached")
    assert violations == []
