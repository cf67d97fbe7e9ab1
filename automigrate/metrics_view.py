"""GET /metrics: automigrate's own metrics in Prometheus' text format.

Prometheus scrapes without a session, so this page alone is open to a bearer
token (AUTOMIGRATE_METRICS_TOKEN: ``Authorization: Bearer <token>``) or to the
client addresses in AUTOMIGRATE_METRICS_ALLOW (default: this machine only);
logged-in staff may read it too. Everyone else gets a 403 naming the options.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from automigrate.services import telemetry


def allowed(request: HttpRequest) -> bool:
    token = settings.AUTOMIGRATE["METRICS_TOKEN"]
    sent = request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), token.encode()):
        return True
    if request.META.get("REMOTE_ADDR", "") in settings.AUTOMIGRATE["METRICS_ALLOW"]:
        return True
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and user.is_staff)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponse(
            "metrics need Authorization: Bearer <AUTOMIGRATE_METRICS_TOKEN>, a client address in"
            " AUTOMIGRATE_METRICS_ALLOW, or a staff login\n", status=403, content_type="text/plain",
        )
    return HttpResponse(generate_latest(telemetry.registry()), content_type=CONTENT_TYPE_LATEST)
