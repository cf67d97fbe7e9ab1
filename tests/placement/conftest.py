"""Fixtures for placement tests: the evaluator's predictable settings and a driver switch."""

import pytest


@pytest.fixture(autouse=True)
def placement_settings(settings):
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE,
        "DRIVER": "simulator",
        "METRIC_SOURCE": "simulator",
        "SIM_FAILURE_PROBABILITY": 0.0,
        "MAX_IN_FLIGHT": 4,
        "MAX_IN_FLIGHT_PER_HOST": 2,
        "MAX_MOVES_PER_HOST": 5,
        "CLUSTER_TIME_ZONE": "UTC",
        "PLACEMENT_WINDOW_SECONDS": 120,
    }
    return settings


@pytest.fixture
def use_driver(monkeypatch):
    def use(driver_class):
        monkeypatch.setattr("automigrate.drivers.get_driver", lambda name=None: driver_class())

    return use
