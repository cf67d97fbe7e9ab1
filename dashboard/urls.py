from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("live/overview/", views.overview_live, name="overview-live"),
    path("hosts/<int:pk>/", views.host_detail, name="host"),
    path("hosts/<int:pk>/chart/", views.host_chart, name="host-chart"),
    path("hosts/<int:pk>/maintenance/", views.host_maintenance, name="host-maintenance"),
    path("groups/repair/", views.groups_repair, name="groups-repair"),
    path("rules/", views.rule_list, name="rules"),
    path("live/rules/", views.rule_list_live, name="rules-live"),
    path("rules/<int:pk>/", views.rule_detail, name="rule"),
    path("rules/<int:pk>/live/", views.rule_live, name="rule-live"),
    path("rules/<int:pk>/toggle/", views.rule_toggle, name="rule-toggle"),
    path("rules/<int:pk>/evaluate/", views.rule_evaluate, name="rule-evaluate"),
    path("rules/<int:pk>/preview/", views.rule_preview, name="rule-preview"),
    path("rules/<int:pk>/backtest/", views.rule_backtest, name="rule-backtest"),
    path("rules/<int:pk>/backtest/<int:run_pk>/", views.rule_backtest_status, name="rule-backtest-status"),
    path("rules/<int:pk>/approve/<int:event_pk>/", views.rule_approve, name="rule-approve"),
    path("events/", views.event_log, name="events"),
    path("live/events/", views.event_log_live, name="events-live"),
    path("preferences/", views.preferences, name="preferences"),
    path("migrations/", views.migration_list, name="migrations"),
    path("live/migrations/", views.migration_list_live, name="migrations-live"),
]
