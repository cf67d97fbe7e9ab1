"""Events keep the names of the rule, hosts and guest they describe.

The host and guest columns stop being rewritten (SET_NULL) when the object is
deleted; the names beside them are filled from the objects for existing
events, or from the event's own notes when the object was already deleted.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

NAME_COLUMNS = (("guest", "Guest"), ("source_host", "Host"), ("target_host", "Host"))
# Where the reference-style notes name a guest or host: {"guest": {"name": ...}, "target_host": {...}}.
NOTE_KEYS = {"guest": "guest", "source_host": "source_host", "target_host": "target_host"}


def fill_names(apps, schema_editor):
    Event = apps.get_model("automigrate", "Event")
    for column, model_name in NAME_COLUMNS:
        model = apps.get_model("automigrate", model_name)
        names = model.objects.filter(pk=OuterRef(f"{column}_id")).values("name")[:1]
        Event.objects.filter(**{f"{column}_id__isnull": False}).update(
            **{f"{column}_name": Coalesce(Subquery(names), Value(""))}
        )
    # Objects deleted before this migration: their ids are gone, their names may be in the notes.
    for event in Event.objects.exclude(notes={}).only("pk", "notes", "guest_name", "source_host_name",
                                                      "target_host_name").iterator():
        changes = {}
        for column, key in NOTE_KEYS.items():
            named = event.notes.get(key) if isinstance(event.notes, dict) else None
            if not getattr(event, f"{column}_name") and isinstance(named, dict) and isinstance(named.get("name"), str):
                changes[f"{column}_name"] = named["name"][:200]
        if changes:
            Event.objects.filter(pk=event.pk).update(**changes)


class Migration(migrations.Migration):

    dependencies = [
        ("automigrate", "0004_keep_migration_history"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="guest_name",
            field=models.CharField(blank=True, db_index=True, max_length=200),
        ),
        migrations.AddField(
            model_name="event",
            name="source_host_name",
            field=models.CharField(blank=True, db_index=True, max_length=200),
        ),
        migrations.AddField(
            model_name="event",
            name="target_host_name",
            field=models.CharField(blank=True, db_index=True, max_length=200),
        ),
        migrations.AlterField(
            model_name="event",
            name="guest",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="events", to="automigrate.guest"),
        ),
        migrations.AlterField(
            model_name="event",
            name="rule",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="events", to="automigrate.migrationrule"),
        ),
        migrations.AlterField(
            model_name="event",
            name="source_host",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="automigrate.host"),
        ),
        migrations.AlterField(
            model_name="event",
            name="target_host",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="automigrate.host"),
        ),
        migrations.RunPython(fill_names, migrations.RunPython.noop),
    ]
