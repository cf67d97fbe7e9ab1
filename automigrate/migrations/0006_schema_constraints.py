"""The database refuses nonsense: CheckConstraints for hosts, guests and rules, one active migration per guest.

Existing rows that break a new constraint are fixed where the fix is
obvious, and otherwise the migration stops with a message naming them:

* a host with 0 CPUs or 0 bytes of memory (auto-registration used to store
  mem_total=0 for "unknown") gets the unknown-capacity placeholders (1 CPU,
  1 PiB) and is disabled, as auto-registration does now;
* older duplicates of a guest's active migration are cancelled (the newest stays);
* a guest with 0 vCPUs or 0 MB, or a rule whose threshold or period is out of
  range, has no obvious right value: the migration refuses, naming each one.
"""

from django.db import migrations, models
from django.db.models import Q

import automigrate.models.bounds

UNKNOWN_MEM_TOTAL_BYTES = 1024**5
MAX_MEM_THRESHOLD_BYTES = 1024**5
CPU, MEM = "cpu.usage_active", "mem.available"
ACTIVE = ("pending", "migrating")


def fix_or_refuse(apps, schema_editor):
    Host = apps.get_model("automigrate", "Host")
    Guest = apps.get_model("automigrate", "Guest")
    Rule = apps.get_model("automigrate", "MigrationRule")
    Migration = apps.get_model("automigrate", "Migration")

    for host in Host.objects.filter(Q(cpu_count__lte=0) | Q(mem_total__lte=0)):
        host.cpu_count = host.cpu_count if host.cpu_count > 0 else 1
        host.mem_total = host.mem_total if host.mem_total > 0 else UNKNOWN_MEM_TOTAL_BYTES
        host.enabled = False
        host.save(update_fields=["cpu_count", "mem_total", "enabled"])
        print(f"\n  host {host.name}: capacity unknown (0), now 1 CPU / 1 PiB placeholders and disabled: fill it in")

    active = Migration.objects.filter(state__in=ACTIVE).order_by("guest_id", "-requested_at", "-id")
    newest: set[int] = set()
    for migration in active:
        if migration.guest_id in newest:
            migration.state = "cancelled"
            migration.error = "cancelled by schema migration 0006: the guest had a newer active migration"
            migration.save(update_fields=["state", "error"])
            print(f"\n  migration #{migration.pk}: cancelled, its guest had a newer active migration")
        newest.add(migration.guest_id)

    problems = [
        f"guest {g.name}: vcpu_count={g.vcpu_count}, vmem_size={g.vmem_size} (both must be more than 0)"
        for g in Guest.objects.filter(Q(vcpu_count__lte=0) | Q(vmem_size__lte=0))
    ]
    bad_threshold = ~(Q(metric=CPU, threshold__gt=0, threshold__lte=100)
                      | Q(metric=MEM, threshold__gt=0, threshold__lte=MAX_MEM_THRESHOLD_BYTES))
    bad_period = Q(period_seconds__lt=10) | Q(period_seconds__gt=86400)
    problems += [
        f"rule {r.name}: {r.metric} threshold {r.threshold:g}, period {r.period_seconds}s"
        " (CPU 0 < t <= 100, memory 0 < t <= 1P bytes, period 10s..1d)"
        for r in Rule.objects.filter(bad_threshold | bad_period)
    ]
    if problems:
        raise RuntimeError(
            "automigrate 0006: these rows break the new database constraints; fix them (admin, the API or"
            " `manage.py migrationalert update`), then run migrate again: " + "; ".join(problems)
        )


class Migration(migrations.Migration):

    dependencies = [
        ("automigrate", "0005_event_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="guest",
            name="vcpu_count",
            field=models.PositiveIntegerField(validators=[automigrate.models.bounds.MoreThanZero("a guest's vCPU count")]),
        ),
        migrations.AlterField(
            model_name="guest",
            name="vmem_size",
            field=models.PositiveIntegerField(help_text="MB, as the reference", validators=[automigrate.models.bounds.MoreThanZero("a guest's memory size")]),
        ),
        migrations.AlterField(
            model_name="host",
            name="cpu_count",
            field=models.PositiveIntegerField(validators=[automigrate.models.bounds.MoreThanZero("a host's CPU count")]),
        ),
        migrations.AlterField(
            model_name="host",
            name="mem_total",
            field=models.PositiveBigIntegerField(help_text="bytes", validators=[automigrate.models.bounds.MoreThanZero("a host's memory size")]),
        ),
        migrations.AlterField(
            model_name="migrationrule",
            name="period_seconds",
            field=models.PositiveIntegerField(default=300, help_text="check interval and averaging window, at least 10 s", validators=[automigrate.models.bounds.validate_period_seconds]),
        ),
        migrations.RunPython(fix_or_refuse, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="guest",
            constraint=models.CheckConstraint(condition=models.Q(("vcpu_count__gt", 0)), name="guest_vcpu_count_positive", violation_error_message="a guest's vCPU count must be more than 0"),
        ),
        migrations.AddConstraint(
            model_name="guest",
            constraint=models.CheckConstraint(condition=models.Q(("vmem_size__gt", 0)), name="guest_vmem_size_positive", violation_error_message="a guest's memory size must be more than 0"),
        ),
        migrations.AddConstraint(
            model_name="host",
            constraint=models.CheckConstraint(condition=models.Q(("cpu_count__gt", 0)), name="host_cpu_count_positive", violation_error_message="a host's CPU count must be more than 0"),
        ),
        migrations.AddConstraint(
            model_name="host",
            constraint=models.CheckConstraint(condition=models.Q(("mem_total__gt", 0)), name="host_mem_total_positive", violation_error_message="a host's memory size must be more than 0"),
        ),
        migrations.AddConstraint(
            model_name="migration",
            constraint=models.UniqueConstraint(condition=models.Q(("state__in", ["pending", "migrating"])), fields=("guest",), name="one_active_migration_per_guest", violation_error_message="this guest already has a migration pending or in progress"),
        ),
        migrations.AddConstraint(
            model_name="migrationrule",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("metric", "cpu.usage_active"), ("threshold__gt", 0), ("threshold__lte", 100.0)), models.Q(("metric", "mem.available"), ("threshold__gt", 0), ("threshold__lte", 1125899906842624)), _connector="OR"), name="rule_threshold_in_range", violation_error_message="threshold out of range: CPU 0 < t <= 100 %, memory 0 < t <= 1P bytes"),
        ),
        migrations.AddConstraint(
            model_name="migrationrule",
            constraint=models.CheckConstraint(condition=models.Q(("period_seconds__gte", 10), ("period_seconds__lte", 86400)), name="rule_period_in_range", violation_error_message="period out of range: 10s to 86400s"),
        ),
    ]
