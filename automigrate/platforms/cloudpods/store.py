"""The Cloudpods session in the database (PlatformSession row ``cloudpods``), shared by every process."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from automigrate.models import PlatformSession
from automigrate.platforms.cloudpods.client import LoginFailed, Session

NAME = "cloudpods"


class DatabaseStore:
    def load(self, fingerprint: str) -> Session | None:
        row = PlatformSession.objects.filter(platform=NAME, fingerprint=fingerprint).exclude(token="").first()
        if row is None or row.expires_at is None:
            return None
        return Session(token=row.token, expires_at=row.expires_at, endpoints=dict(row.endpoints or {}))

    def save(self, fingerprint: str, session: Session) -> None:
        PlatformSession.objects.update_or_create(platform=NAME, defaults={
            "token": session.token, "expires_at": session.expires_at, "endpoints": session.endpoints,
            "fingerprint": fingerprint, "failure": "", "failure_kind": "", "failed_at": None,
        })

    def drop(self, fingerprint: str, token: str) -> None:
        # Only the token that was refused: another process may already have stored a new one.
        PlatformSession.objects.filter(platform=NAME, fingerprint=fingerprint, token=token).update(token="")

    def record_failure(self, fingerprint: str, failure: LoginFailed) -> None:
        with transaction.atomic():
            PlatformSession.objects.update_or_create(platform=NAME, defaults={
                "token": "", "expires_at": None, "fingerprint": fingerprint,
                "failure": str(failure), "failure_kind": failure.kind, "failed_at": timezone.now(),
            })


def stored_failure(fingerprint: str) -> PlatformSession | None:
    """The last login failure under these very settings (changed settings: not theirs)."""
    return PlatformSession.objects.filter(platform=NAME, fingerprint=fingerprint).exclude(failure="").first()
