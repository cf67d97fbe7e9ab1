"""Per-user display choices: the time zone times are shown in."""

from django.conf import settings
from django.db import models


class UserPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    # An IANA name (Europe/Berlin); blank: the server's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True, help_text="IANA zone, e.g. Europe/Berlin; blank: server's")

    def __str__(self) -> str:
        return f"{self.user}: {self.time_zone or 'server time zone'}"
