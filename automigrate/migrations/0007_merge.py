# Joins the migrations three branches added in parallel after 0005_platform_inventory.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("automigrate", "0006_libvirt"),
        ("automigrate", "0006_schema_constraints"),
        ("automigrate", "0006_platform_session"),
    ]

    operations = []
