# Joins the operator's-day migrations (0007, 0008) with the other branches' (0007_merge).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("automigrate", "0007_merge"),
        ("automigrate", "0008_webhooks_and_counters"),
    ]

    operations = []
