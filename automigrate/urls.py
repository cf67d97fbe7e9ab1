from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from automigrate import metrics_view
from automigrate.api import ingest
from automigrate.middleware import unmatched

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("automigrate.api.urls")),
    # InfluxDB 1.x-compatible metrics endpoints, at InfluxDB's paths so clients need only a URL.
    path("write", ingest.write, name="influx-write"),
    path("ping", ingest.ping, name="influx-ping"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("", include("dashboard.urls")),
    # Last: our 404 page for any other address, also under DEBUG (see middleware.not_found_response).
    re_path(r"^(?P<path>.*)$", unmatched),
]
