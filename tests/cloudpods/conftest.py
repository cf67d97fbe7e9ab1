"""A fake Cloudpods (tests/cloudpods/fake.py) on 127.0.0.1 and settings pointing automigrate at it."""

import pytest

from tests.cloudpods.fake import FakeCloudpods


@pytest.fixture
def fake():
    server = FakeCloudpods(step_seconds=0.2).start()
    yield server
    server.stop()


def point_at(settings, fake, **cloudpods):
    settings.AUTOMIGRATE = {
        **settings.AUTOMIGRATE, "PLATFORM": "cloudpods", "DRIVER": "", "METRIC_SOURCE": "database",
        "CLOUDPODS": {
            **settings.AUTOMIGRATE["CLOUDPODS"], "AUTH_URL": fake.auth_url, "USERNAME": fake.username,
            "PASSWORD": fake.password, "TIMEOUT_SECONDS": 2, "CANCEL_SETTLE_SECONDS": 5, **cloudpods,
        },
    }


@pytest.fixture
def cloudpods(fake, settings, transactional_db):
    """automigrate configured for the fake: AUTOMIGRATE_PLATFORM=cloudpods and its credentials.

    Transactional: the sync reads the platform in a bounded thread with its own database
    connection, which must see (and may write) what the test wrote. (The flush afterwards
    emits post_migrate, which puts the operators group back: no serialized rollback, whose
    restore of the group's old row would clash with the recreated one.)
    """
    point_at(settings, fake)
    return fake
