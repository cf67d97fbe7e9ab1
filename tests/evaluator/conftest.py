"""Fixtures for the evaluator: settings for a predictable simulator, a small cluster, fake drivers."""

import pytest
from django.utils import timezone

from tests.evaluator.helpers import TwoHotHosts


@pytest.fixture(autouse=True)
def evaluator_settings(settings):
    """No random migration failures, generous caps; each test narrows what it needs."""
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE,
        "DRIVER": "simulator",
        "METRIC_SOURCE": "simulator",
        "SIM_FAILURE_PROBABILITY": 0.0,
        "SIM_BANDWIDTH_MB_PER_S": 400,
        "MAX_IN_FLIGHT": 4,
        "MAX_IN_FLIGHT_PER_HOST": 2,
        "LOCK_LEASE_SECONDS": 900,
        "MIGRATION_TIMEOUT_BASE_SECONDS": 120,
        "MIGRATION_TIMEOUT_SECONDS_PER_GIB": 60,
        "COOLDOWN_MINUTES": 30,
    }
    return settings


@pytest.fixture
def two_hot_hosts(db):
    return TwoHotHosts(timezone.now())


@pytest.fixture
def use_driver(monkeypatch):
    """Make the services use ``driver_class`` instead of the configured driver."""

    def use(driver_class):
        monkeypatch.setattr("automigrate.drivers.get_driver", lambda name=None: driver_class())

    return use
