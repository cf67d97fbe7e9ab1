"""Sample tables keyed by (host, metric, time) / (guest, time), time-partitioned on PostgreSQL, and roll-ups.

Issue 17. Every existing sample is kept: the old tables are renamed, the new
ones created, the rows copied (one row per key: where the old tables held
two samples of one key, the later-written one, as ingest now does), then the
old tables dropped.

On PostgreSQL the sample and roll-up tables are range-partitioned by ``time``
into daily partitions (UTC days), created here for every day of existing data
and a few days ahead; automigrate.services.partitions creates the next ones
and drops old ones. The time index is BRIN there: rows arrive in time order,
so a few pages index a day. On SQLite the tables are plain and the time index
a B-tree. The hosts and guests are foreign keys without database constraint
and without their own index (the primary key starts with them).

Reversible: backwards, the old tables (with ids) are rebuilt from the new ones
and the roll-ups dropped.
"""

from datetime import UTC, datetime, timedelta

import django.db.models.deletion
from django.db import migrations, models
from django.db.migrations.operations.base import Operation

DAYS_AHEAD = 3
SAMPLES = (("hostsample", ("host_id", "metric", "time"), ("host_id", "metric", "time", "value"), "automigrate_host"),
           ("guestsample", ("guest_id", "time"), ("guest_id", "time", "cpu"), "automigrate_guest"))
ROLLUPS = ("hostrollup1m", "hostrollup5m", "guestrollup1m", "guestrollup5m")

STATE_OPERATIONS = [
    migrations.CreateModel(
        name='GuestRollup1m',
        fields=[
            ('pk', models.CompositePrimaryKey('guest', 'time', blank=True, editable=False, primary_key=True, serialize=False)),
            ('time', models.DateTimeField(help_text='start of the step')),
            ('mean', models.FloatField()),
            ('max', models.FloatField()),
            ('samples', models.PositiveIntegerField()),
        ],
    ),
    migrations.CreateModel(
        name='GuestRollup5m',
        fields=[
            ('pk', models.CompositePrimaryKey('guest', 'time', blank=True, editable=False, primary_key=True, serialize=False)),
            ('time', models.DateTimeField(help_text='start of the step')),
            ('mean', models.FloatField()),
            ('max', models.FloatField()),
            ('samples', models.PositiveIntegerField()),
        ],
    ),
    migrations.CreateModel(
        name='HostRollup1m',
        fields=[
            ('pk', models.CompositePrimaryKey('host', 'metric', 'time', blank=True, editable=False, primary_key=True, serialize=False)),
            ('metric', models.CharField(choices=[('cpu.usage_active', 'cpu.usage_active (%)'), ('mem.available', 'mem.available (bytes)')], max_length=32)),
            ('time', models.DateTimeField(help_text='start of the step')),
            ('mean', models.FloatField()),
            ('max', models.FloatField()),
            ('samples', models.PositiveIntegerField(help_text='raw samples averaged (weights the mean of several steps)')),
        ],
    ),
    migrations.CreateModel(
        name='HostRollup5m',
        fields=[
            ('pk', models.CompositePrimaryKey('host', 'metric', 'time', blank=True, editable=False, primary_key=True, serialize=False)),
            ('metric', models.CharField(choices=[('cpu.usage_active', 'cpu.usage_active (%)'), ('mem.available', 'mem.available (bytes)')], max_length=32)),
            ('time', models.DateTimeField(help_text='start of the step')),
            ('mean', models.FloatField()),
            ('max', models.FloatField()),
            ('samples', models.PositiveIntegerField(help_text='raw samples averaged (weights the mean of several steps)')),
        ],
    ),
    migrations.CreateModel(
        name='RollupProgress',
        fields=[
            ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
            ('table', models.CharField(max_length=63, unique=True)),
            ('done_until', models.DateTimeField()),
        ],
    ),
    migrations.RemoveIndex(
        model_name='guestsample',
        name='guestsample_guest_time',
    ),
    migrations.RemoveIndex(
        model_name='hostsample',
        name='hostsample_metric_time',
    ),
    migrations.RemoveIndex(
        model_name='hostsample',
        name='hostsample_host_metric_time',
    ),
    migrations.RemoveField(
        model_name='guestsample',
        name='id',
    ),
    migrations.RemoveField(
        model_name='hostsample',
        name='id',
    ),
    migrations.AddField(
        model_name='guestsample',
        name='pk',
        field=models.CompositePrimaryKey('guest', 'time', blank=True, editable=False, primary_key=True, serialize=False),
    ),
    migrations.AddField(
        model_name='hostsample',
        name='pk',
        field=models.CompositePrimaryKey('host', 'metric', 'time', blank=True, editable=False, primary_key=True, serialize=False),
    ),
    migrations.AlterField(
        model_name='guestsample',
        name='guest',
        field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='samples', to='automigrate.guest'),
    ),
    migrations.AlterField(
        model_name='hostsample',
        name='host',
        field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='samples', to='automigrate.host'),
    ),
    migrations.AddIndex(
        model_name='hostsample',
        index=models.Index(fields=['time'], name='hostsample_time'),
    ),
    migrations.AddField(
        model_name='guestrollup1m',
        name='guest',
        field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='automigrate.guest'),
    ),
    migrations.AddField(
        model_name='guestrollup5m',
        name='guest',
        field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='automigrate.guest'),
    ),
    migrations.AddField(
        model_name='hostrollup1m',
        name='host',
        field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='automigrate.host'),
    ),
    migrations.AddField(
        model_name='hostrollup5m',
        name='host',
        field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='automigrate.host'),
    ),
    migrations.AddIndex(
        model_name='guestrollup1m',
        index=models.Index(fields=['time'], name='guestrollup1m_time'),
    ),
    migrations.AddIndex(
        model_name='guestrollup5m',
        index=models.Index(fields=['time'], name='guestrollup5m_time'),
    ),
    migrations.AddIndex(
        model_name='hostrollup1m',
        index=models.Index(fields=['time'], name='hostrollup1m_time'),
    ),
    migrations.AddIndex(
        model_name='hostrollup5m',
        index=models.Index(fields=['time'], name='hostrollup5m_time'),
    ),
]


def _day(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _partition_sql(table: str, start: datetime, end: datetime) -> str:
    # The name as automigrate.services.partitions gives it; its bounds are what matter.
    return (f'CREATE TABLE IF NOT EXISTS "{table}_p{start:%Y%m%d}" PARTITION OF "{table}"'
            f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")


def _create_partitioned(schema_editor, model, oldest: datetime | None) -> None:
    """CREATE TABLE ... PARTITION BY RANGE (time), its BRIN time index and daily partitions."""
    sql, params = schema_editor.table_sql(model)
    schema_editor.execute(sql + ' PARTITION BY RANGE ("time")', params or None)
    table = model._meta.db_table
    for index in model._meta.indexes:
        schema_editor.execute(
            f'CREATE INDEX "{index.name}" ON "{table}" USING brin ("time") WITH (pages_per_range = 32)'
        )
    # From yesterday: a sample stamped just before midnight may arrive just after it.
    today = _day(datetime.now(UTC))
    yesterday = today - timedelta(days=1)
    day = _day(oldest) if oldest is not None and oldest < yesterday else yesterday
    while day < today + timedelta(days=DAYS_AHEAD):
        schema_editor.execute(_partition_sql(table, day, day + timedelta(days=1)))
        day += timedelta(days=1)


def _drop_indexes(schema_editor, table: str) -> None:
    """Drop every index and constraint of a renamed table: their names would clash with the new table's."""
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass", [table])
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s"
                           " AND sql IS NOT NULL", [table])
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def _oldest(schema_editor, table: str) -> datetime | None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT MIN("time") FROM "{table}"')
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # SQLite
        value = datetime.fromisoformat(value)
    return value


class PartitionSamples(Operation):
    """The state changes of STATE_OPERATIONS, with the tables rebuilt (data kept) instead of altered."""

    reversible = True

    def __init__(self, state_operations):
        self.state_operations = state_operations

    def deconstruct(self):
        return self.__class__.__name__, [], {"state_operations": self.state_operations}

    def state_forwards(self, app_label, state):
        for operation in self.state_operations:
            operation.state_forwards(app_label, state)

    def describe(self):
        return "Sample tables keyed without ids, partitioned by time on PostgreSQL; roll-up tables"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        postgres = schema_editor.connection.vendor == "postgresql"
        for name, key, columns, _ in SAMPLES:
            model = to_state.apps.get_model(app_label, name)
            table, old = model._meta.db_table, model._meta.db_table + "_old"
            schema_editor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
            _drop_indexes(schema_editor, old)
            if postgres:
                _create_partitioned(schema_editor, model, _oldest(schema_editor, old))
            else:
                schema_editor.create_model(model)
            cols, keys = ", ".join(f'"{c}"' for c in columns), ", ".join(f'"{c}"' for c in key)
            # One row per key, the last written (highest id) as ingest now keeps it.
            schema_editor.execute(
                f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM "{old}"'
                f' WHERE "id" IN (SELECT MAX("id") FROM "{old}" GROUP BY {keys})'
            )
            schema_editor.execute(f'DROP TABLE "{old}"')
        for name in ROLLUPS:
            model = to_state.apps.get_model(app_label, name)
            if postgres:
                _create_partitioned(schema_editor, model, None)
            else:
                schema_editor.create_model(model)
        schema_editor.create_model(to_state.apps.get_model(app_label, "rollupprogress"))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        # from_state: with this migration; to_state: before it.
        schema_editor.delete_model(from_state.apps.get_model(app_label, "rollupprogress"))
        for name in ROLLUPS:
            schema_editor.delete_model(from_state.apps.get_model(app_label, name))
        for name, _, columns, parent in SAMPLES:
            model = to_state.apps.get_model(app_label, name)
            table, new = model._meta.db_table, model._meta.db_table + "_new"
            schema_editor.execute(f'ALTER TABLE "{table}" RENAME TO "{new}"')
            _drop_indexes(schema_editor, new)
            schema_editor.create_model(model)
            cols = ", ".join(f'"{c}"' for c in columns)
            # The old tables had database foreign keys: samples of deleted hosts or guests stay behind.
            schema_editor.execute(
                f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM "{new}"'
                f' WHERE "{columns[0]}" IN (SELECT "id" FROM "{parent}") ORDER BY "time"'
            )
            schema_editor.execute(f'DROP TABLE "{new}"')


class Migration(migrations.Migration):

    dependencies = [
        ('automigrate', '0011_scale_indexes'),
    ]

    operations = [PartitionSamples(STATE_OPERATIONS)]
