"""Fixtures shared by every test folder: users of each role and small clusters."""

import pytest
from django.contrib.auth.models import Group

from automigrate.permissions import OPERATORS_GROUP


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    return f"database: {'PostgreSQL' if 'postgresql' in engine else 'SQLite'} ({engine})"


@pytest.fixture
def viewer(django_user_model):
    """Logged in, may read everything, may change nothing."""
    return django_user_model.objects.create_user("viewer", password="viewer-pass-123")


@pytest.fixture
def operator(django_user_model):
    """In the operators group: may change rules and press buttons."""
    user = django_user_model.objects.create_user("operator", password="operator-pass-123")
    user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    return user


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("boss", password="boss-pass-123")


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def make_host(db):
    from automigrate.models import Host

    def make(name, cpu_count=40, mem_total=256 * 1024**3, **extra):
        return Host.objects.create(name=name, cpu_count=cpu_count, mem_total=mem_total, **extra)

    return make


@pytest.fixture
def make_guest(db):
    from automigrate.models import Guest

    def make(name, host, vcpu_count=4, vmem_size=8192, **extra):
        return Guest.objects.create(name=name, host=host, vcpu_count=vcpu_count, vmem_size=vmem_size, **extra)

    return make


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On SQLite, test in a file rather than Django's shared-cache in-memory database.

    Tests with real concurrent writers (threads, a Celery worker) need SQLite's
    file locking and busy timeout; shared-cache memory databases fail at once
    with "database table is locked" instead of waiting.
    """
    import os
    import tempfile

    from django.conf import settings

    database = settings.DATABASES["default"]
    # Close connections after each request: live-server threads kept alive by
    # HTTP keep-alive would otherwise hold the PostgreSQL test database open.
    database["CONN_MAX_AGE"] = 0
    if database["ENGINE"].endswith("sqlite3"):
        # One file per test run: several runs on one machine must not share it.
        name = f"automigrate-test-{os.getpid()}.sqlite3"
        database.setdefault("TEST", {})["NAME"] = os.path.join(tempfile.gettempdir(), name)


def pytest_collection_modifyitems(config, items):
    """Refuse serialized_rollback: it breaks random test order.

    After a transactional test's flush, post_migrate re-creates the operators
    group and the lock row (automigrate.apps.ensure_fixed_rows). A later
    serialized_rollback test then re-inserts its own copy of them and fails on
    the unique group name. The fixed rows are always there, so no test needs it.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(
                f"{item.nodeid}: serialized_rollback=True breaks random order; the operators group and the"
                " lock row are re-created after every flush (automigrate.apps.ensure_fixed_rows)"
            )
