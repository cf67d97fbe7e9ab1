"""Fixtures for the bounds tests: short bounds, and every blocked outside call released at the end."""

import pytest

from tests.bounds import outside


@pytest.fixture(autouse=True)
def short_bounds(settings):
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE,
        "DRIVER": "simulator",
        "METRIC_SOURCE": "simulator",
        "SIM_FAILURE_PROBABILITY": 0.0,
        "DRIVER_PRECHECK_TIMEOUT_SECONDS": 1,
        "DRIVER_START_TIMEOUT_SECONDS": 1,
        "DRIVER_POLL_TIMEOUT_SECONDS": 1,
        "DRIVER_CANCEL_TIMEOUT_SECONDS": 1,
        "SOURCE_TIMEOUT_SECONDS": 1,
        "MIGRATION_TIMEOUT_BASE_SECONDS": 120,
        "MIGRATION_TIMEOUT_SECONDS_PER_GIB": 60,
        "MAX_IN_FLIGHT": 4,
        "MAX_IN_FLIGHT_PER_HOST": 2,
        "COOLDOWN_MINUTES": 30,
    }
    outside.release.clear()
    outside.BlockingDriver.calls = []
    yield settings
    outside.release.set()  # every thread still stuck in a blocking call returns now
