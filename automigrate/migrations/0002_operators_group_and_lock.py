"""The operators group (may change rules) and the one row of the migration lock."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="operators")
    apps.get_model("automigrate", "MigrationLock").objects.get_or_create(pk=1)


def remove(apps, schema_editor):
    apps.get_model("automigrate", "MigrationLock").objects.filter(pk=1).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("automigrate", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create, remove)]
