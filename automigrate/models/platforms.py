"""What a platform connector must share between web, workers and beat: its session.

A Cloudpods token is valid for hours and costs a Keystone round trip; every
process reusing the one in this row (rather than each caching its own) means
one login per expiry, not one per worker. The row also remembers the last
login failure, so the system check and the event log can say why nothing is
read without calling Keystone themselves.
"""

from django.db import models


class PlatformSession(models.Model):
    platform = models.CharField(max_length=40, unique=True)
    token = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Service type -> URL, from the token's catalog (e.g. {"compute_v2": ..., "monitor": ...}).
    endpoints = models.JSONField(default=dict, blank=True)
    # A hash of the settings the token or the failure came from: new settings, fresh start.
    fingerprint = models.CharField(max_length=64, blank=True)
    failure = models.TextField(blank=True, help_text="why the last login failed, empty when it worked")
    failure_kind = models.CharField(max_length=20, blank=True, help_text="credentials | unreachable | catalog")
    failed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.platform} session" + (f" (failing: {self.failure})" if self.failure else "")
