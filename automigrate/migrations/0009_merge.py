# Joins the migrations of the branches merged after 0007_merge: operator's day (0007, 0008) and bounds (0007).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("automigrate", "0007_merge"),
        ("automigrate", "0008_webhooks_and_counters"),
        ("automigrate", "0007_outside_timeouts_start_intent"),
    ]

    operations = []
