"""Outside calls that timed out recently: what the overview's banner shows."""

from django.db import models
from django.utils import timezone


class OutsideTimeout(models.Model):
    """One row per call that has ever timed out ("driver: libvirt poll"), with its latest time.

    Written by the bounded wrappers (automigrate.services.outside) from the
    worker that waited, read by the web process: so it lives in the database.
    """

    class Kind(models.TextChoices):
        DRIVER = "driver"
        SOURCE = "source"
        PLATFORM = "platform"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    call = models.CharField(max_length=200, unique=True, help_text="e.g. 'libvirt poll'")
    message = models.CharField(max_length=500, help_text="the latest timeout, as the caller saw it")
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now, db_index=True)
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.call}: {self.message} (last {self.last_at:%H:%M:%S})"
