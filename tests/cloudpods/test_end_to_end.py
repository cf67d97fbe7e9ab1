"""End to end against the fake Cloudpods: metrics in through /write, the evaluator, a real Celery worker.

Metrics go in as telegraf writes them (InfluxDB line protocol, tagged with the
fake's host and server ids) to automigrate's own /write on a live server; the
rule fires in the worker, which syncs the inventory from the fake, plans, asks
migrate-forecast and live-migrate; the watcher follows the server until it runs
on the target. A second variant reads the same metrics from a real InfluxDB,
where a Cloudpods cluster's telegraf already writes them.
"""

import time

import pytest
import requests

from automigrate.engine.model import CPU
from automigrate.models import Event, Guest, Host, Migration
from automigrate.services.evaluate import evaluate_rule
from automigrate.services.inventory import sync_inventory
from automigrate.services.rules import create_rule
from tests.evaluator.test_end_to_end import celery_app, wait_for  # noqa: F401 - the real worker fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_url(live_server):
    from django.db import connections

    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0  # live-server threads must not keep PostgreSQL sessions open
    yield live_server.url
    database["CONN_MAX_AGE"] = max_age


def telegraf_lines(hot: str, cool: str, busy: str, quiet: str) -> list[str]:
    """A minute of what Cloudpods' telegraf writes: host series tagged host_id and res_type=host."""
    now = int(time.time())
    lines = []
    for t in range(now - 55, now + 1, 10):
        lines += [
            f"cpu,cpu=cpu-total,host_id={hot},res_type=host usage_active=85.0 {t}",
            f"cpu,cpu=cpu-total,host_id={cool},res_type=host usage_active=20.0 {t}",
            f"mem,host_id={hot},res_type=host available={200 * 1024**3}i {t}",
            f"mem,host_id={cool},res_type=host available={400 * 1024**3}i {t}",
            f"vm_cpu,vm_id={busy} usage_active=100.0 {t}",
            f"vm_cpu,vm_id={quiet} usage_active=5.0 {t}",
        ]
    return lines


def write(url: str, lines: list[str]) -> None:
    answer = requests.post(f"{url}/write", params={"db": "telegraf", "precision": "s"}, data="\n".join(lines),
                           auth=("operator", "operator-pass-123"), timeout=10)
    assert answer.status_code == 204, answer.text


def busy_cluster(cloudpods, live_url) -> tuple[str, str, str]:
    """The seed page's story: a 24-vCPU VM at 100 % on a 40-core host, a roomy host beside it."""
    hot = cloudpods.add_host("test-66-onecloud02", cpu_count=40)
    cool = cloudpods.add_host("test-69-onecloud01", cpu_count=64, mem_size=512 * 1024)
    busy = cloudpods.add_server("cpu-test-vm", hot, vcpu_count=24, vmem_size=1024)
    quiet = cloudpods.add_server("web", hot, vcpu_count=2, vmem_size=2048)
    sync_inventory()  # hosts known, so /write can match their ids
    write(live_url, telegraf_lines(hot, cool, busy, quiet))
    return hot, cool, busy


def test_a_recommendation_names_cloudpods_ids_and_moves_nothing(cloudpods, live_url, operator):
    hot, cool, busy = busy_cluster(cloudpods, live_url)
    rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "1m", "mode": "recommend"})
    evaluate_rule(rule)
    (move,) = Event.objects.get(action=Event.Action.RECOMMEND).notes["moves"]
    assert move["guest"] == {**move["guest"], "id": busy, "name": "cpu-test-vm", "host_id": hot}
    assert move["target_host"]["id"] == cool
    assert not cloudpods.calls_to("POST", "/live-migrate")


def test_a_busy_cloudpods_host_is_relieved_by_a_live_migration(cloudpods, live_url, operator, celery_app):  # noqa: F811
    hot, cool, busy = busy_cluster(cloudpods, live_url)
    rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "1m"})

    celery_app.send_task("automigrate.tasks.evaluate_rule", args=[rule.pk])
    wait_for(lambda: Event.objects.filter(action=Event.Action.MIGRATE_SUCCESS).exists()
             or Event.objects.filter(action__in=["migrate_fail", "migrate_error", "find_result_fail"]).exists(),
             celery_app, "no migration ended")
    assert not Event.objects.filter(action__in=["migrate_fail", "migrate_error", "find_result_fail"]).exists(), \
        list(Event.objects.values_list("action", "summary"))

    (forecast,) = cloudpods.calls_to("POST", f"/servers/{busy}/migrate-forecast")
    assert forecast["body"] == {"server": {"live_migrate": True, "prefer_host_id": cool, "skip_cpu_check": True}}
    (call,) = cloudpods.calls_to("POST", f"/servers/{busy}/live-migrate")
    assert call["body"] == {"server": {"prefer_host_id": cool, "skip_cpu_check": True, "skip_kernel_check": True}}
    success = Event.objects.get(action=Event.Action.MIGRATE_SUCCESS)
    # The seed's note shape, with Cloudpods' ids.
    assert success.notes["guest"]["id"] == busy and success.notes["guest"]["host_id"] == hot
    assert success.notes["target_host"] == {**success.notes["target_host"], "id": cool, "name": "test-69-onecloud01"}
    assert Migration.objects.get().state == Migration.State.SUCCEEDED
    assert cloudpods.server_now(busy)["host_id"] == cool
    sync_inventory()  # what the inventory says afterwards
    vm = Guest.objects.get(name="cpu-test-vm")
    assert vm.host == Host.objects.get(external_id=cool) and vm.status == Guest.Status.RUNNING
    assert Guest.objects.get(name="web").host.external_id == hot


def test_metrics_read_from_a_real_influxdb_drive_the_cloudpods_migration(cloudpods, settings, tmp_path, celery_app):  # noqa: F811
    """The Cloudpods admin's setup: telegraf into InfluxDB, automigrate reads it there (nothing pushed to us)."""
    from tests.sources import servers
    from tests.sources.conftest import configure, require

    require("influxdb")
    influx = servers.start("influxdb", tmp_path / "influxdb")
    try:
        configure(settings, "influxdb", influx.url)
        hot = cloudpods.add_host("test-66-onecloud02", cpu_count=40)
        cool = cloudpods.add_host("test-69-onecloud01", cpu_count=64, mem_size=512 * 1024)
        busy = cloudpods.add_server("cpu-test-vm", hot, vcpu_count=24, vmem_size=1024)
        quiet = cloudpods.add_server("web", hot, vcpu_count=2, vmem_size=2048)
        influx.write_lines(telegraf_lines(hot, cool, busy, quiet))
        rule = create_rule({"name": "test-cpu", "metric": CPU, "threshold": 60, "period": "1m"})

        celery_app.send_task("automigrate.tasks.evaluate_rule", args=[rule.pk])
        wait_for(lambda: Event.objects.filter(action__in=["migrate_success", "migrate_fail", "migrate_error",
                                                          "find_result_fail"]).exists(),
                 celery_app, "no migration ended")
        success = Event.objects.get(action=Event.Action.MIGRATE_SUCCESS)
        assert success.notes["guest"]["id"] == busy and success.notes["target_host"]["id"] == cool
        assert success.notes["guest"]["score"] == pytest.approx(60.0)  # 24 vCPUs at 100 % of 40 cores
        assert cloudpods.server_now(busy)["host_id"] == cool
    finally:
        influx.stop()
