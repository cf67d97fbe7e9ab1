"""/api/: one router for every resource, plus the OpenAPI schema and its Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from automigrate.api import views

router = DefaultRouter()
router.register("hosts", views.HostViewSet)
router.register("guests", views.GuestViewSet)
router.register("rules", views.RuleViewSet)
router.register("groups", views.PlacementGroupViewSet)
router.register("events", views.EventViewSet)
router.register("migrations", views.MigrationViewSet)
router.register("metrics", views.MetricsViewSet, basename="metrics")
router.register("webhooks", views.WebhookViewSet)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
