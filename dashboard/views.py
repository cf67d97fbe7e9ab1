"""Dashboard views: thin. Context comes from dashboard.pages, changes from automigrate.services.

Every page has a live twin returning JSON (``fragments``: re-rendered parts
of the page, ``figures``: Plotly figures) that static/dashboard/live.js polls
to refresh numbers and charts in place.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from automigrate import clock
from automigrate.middleware import user_zone_name
from automigrate.models import BacktestRun, Event, Host, MigrationRule, UserPreference
from automigrate.permissions import is_operator
from automigrate.services import backtest, evaluate, maintenance
from automigrate.services import rules as rule_service
from dashboard import backtests, pages
from dashboard import placement as placement_pages

# Which included templates each live endpoint re-renders, by element id.
OVERVIEW_FRAGMENTS = {
    "overview-outside": "dashboard/_outside_banner.html",
    "overview-summary": "dashboard/_overview_summary.html",
    "overview-pending": "dashboard/_pending.html",
    "overview-hosts": "dashboard/_host_table.html",
    "overview-inflight": "dashboard/_inflight.html",
    "overview-events": "dashboard/_events_short.html",
}
HOST_FRAGMENTS = {"host-now": "dashboard/_host_now.html", "host-guests": "dashboard/_guest_table.html"}
RULES_FRAGMENTS = {"rules-table": "dashboard/_rule_table.html", "rules-pending": "dashboard/_pending.html"}
RULE_FRAGMENTS = {"rule-status": "dashboard/_rule_status.html", "rule-events": "dashboard/_events_short.html"}
MIGRATIONS_FRAGMENTS = {"migrations-table": "dashboard/_migration_table.html"}
EVENTS_FRAGMENTS = {"events-table": "dashboard/_event_table.html"}


def operator_required(view):
    """Logged in (else to the login page) and operator or staff (else 403)."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not is_operator(request.user):
            raise PermissionDenied("this needs staff or the operators group")
        return view(request, *args, **kwargs)

    return wrapped


def _live(request, context: dict, fragments: dict[str, str]) -> JsonResponse:
    return JsonResponse(
        {
            "fragments": {
                element_id: render_to_string(template, context, request) for element_id, template in fragments.items()
            },
            "figures": context.get("figures", {}),
            "time": timezone.now(),
            "clock": clock.show(timezone.now(), with_seconds=True),
        },
        encoder=DjangoJSONEncoder,
    )


def _with_role(request, context: dict, back: str = "") -> dict:
    """Whether the user may press buttons, and where an Approve button should come back to."""
    context["can_operate"] = is_operator(request.user)
    context["back"] = back
    return context


# --- Overview ---------------------------------------------------------------


@login_required
def overview(request):
    return render(request, "dashboard/overview.html", _overview(request))


@login_required
def overview_live(request):
    return _live(request, _overview(request), OVERVIEW_FRAGMENTS)


def _overview(request) -> dict:
    context = {**pages.overview(request.GET), **placement_pages.overview_context()}
    return _with_role(request, context, reverse("dashboard:overview"))


# --- Hosts ------------------------------------------------------------------


@login_required
def host_detail(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    context = {**pages.host_detail(host, request.GET.get("range", "")), **placement_pages.host_context(host)}
    return render(request, "dashboard/host.html", _with_role(request, context))


@require_POST
@operator_required
def host_maintenance(request, pk: int):
    """Enter (and evacuate) or exit maintenance; the outcome, guests left included, as a message."""
    host = get_object_or_404(Host, pk=pk)
    try:
        if request.POST.get("action") == "enter":
            outcome = maintenance.enter_maintenance(
                host, request.user, through_blackout=request.POST.get("through_blackout") == "1"
            )
        elif request.POST.get("action") == "exit":
            outcome = maintenance.exit_maintenance(host, request.user)
        else:
            messages.error(request, "action must be enter or exit")
            return redirect("dashboard:host", pk=host.pk)
    except maintenance.MaintenanceError as exc:
        messages.error(request, str(exc))
    else:
        (messages.warning if outcome.left else messages.success)(request, outcome.summary)
    return redirect("dashboard:host", pk=host.pk)


@require_POST
@operator_required
def groups_repair(request):
    outcome = maintenance.repair(request.user, through_blackout=request.POST.get("through_blackout") == "1")
    (messages.warning if outcome.left else messages.success)(request, outcome.summary)
    return redirect("dashboard:overview")


@login_required
def host_chart(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    return _live(request, pages.host_detail(host, request.GET.get("range", "")), HOST_FRAGMENTS)


# --- Rules ------------------------------------------------------------------


@login_required
def rule_list(request):
    return render(request, "dashboard/rules.html", _rules(request))


@login_required
def rule_list_live(request):
    return _live(request, _rules(request), RULES_FRAGMENTS)


def _rules(request) -> dict:
    return _with_role(request, pages.rule_list(request.GET), reverse("dashboard:rules"))


@login_required
def rule_detail(request, pk: int):
    rule = get_object_or_404(MigrationRule, pk=pk)
    context = {**pages.rule_detail(rule), **placement_pages.rule_context(rule)}
    return render(request, "dashboard/rule.html", _with_role(request, _with_backtest(rule, context)))


@login_required
def rule_live(request, pk: int):
    rule = get_object_or_404(MigrationRule, pk=pk)
    context = {**pages.rule_detail(rule), **placement_pages.rule_context(rule)}
    return _live(request, _with_role(request, context), RULE_FRAGMENTS)


@require_POST
@operator_required
def rule_toggle(request, pk: int):
    rule = get_object_or_404(MigrationRule, pk=pk)
    enable = request.POST.get("enabled") == "1"
    rule_service.set_enabled(rule, enable, request.user)
    messages.success(request, f"Rule {rule.name} {'enabled' if enable else 'disabled'}.")
    return redirect("dashboard:rule", pk=rule.pk)


@require_POST
@operator_required
def rule_evaluate(request, pk: int):
    rule = get_object_or_404(MigrationRule, pk=pk)
    evaluation = evaluate.evaluate_rule(rule, user=request.user)
    messages.success(request, f"Evaluated {rule.name}: {evaluation.result}: {evaluation.summary}")
    return redirect("dashboard:rule", pk=rule.pk)


@require_POST
@operator_required
def rule_preview(request, pk: int):
    """The plan the engine would make now, shown on the rule page; nothing is executed or recorded."""
    rule = get_object_or_404(MigrationRule, pk=pk)
    context = _with_role(request, {**pages.rule_detail(rule), **placement_pages.rule_context(rule)})
    context["plan"] = evaluate.preview_rule(rule)
    return render(request, "dashboard/rule.html", _with_backtest(rule, context))


def _with_backtest(rule: MigrationRule, context: dict) -> dict:
    """The backtest card; a finished run's chart joins the page's figures (drawn by live.js at load)."""
    context.update(backtests.rule_context(rule))
    if context["backtest_figure"]:
        context["figures"] = {**context.get("figures", {}), backtests.FIGURE_ID: context["backtest_figure"]}
    return context


@require_POST
@operator_required
def rule_backtest(request, pk: int):
    """Queue a backtest (a Celery task): operators only, since a 7-day replay costs minutes of CPU."""
    rule = get_object_or_404(MigrationRule, pk=pk)
    since = request.POST.get("since", backtests.DEFAULT_SINCE)
    if since not in backtests.SINCE_CHOICES:
        messages.error(request, f"since: use one of {', '.join(backtests.SINCE_CHOICES)}")
        return redirect("dashboard:rule", pk=rule.pk)
    try:
        backtest.start_run(rule, request.user, backtest.parse_since(since))
    except (backtest.BacktestError, backtest.RunRefused) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Backtest of {rule.name} over the last {since} queued; progress below.")
    return redirect(f"{reverse('dashboard:rule', args=[rule.pk])}#rule-backtest")


@login_required
def rule_backtest_status(request, pk: int, run_pk: int):
    """A run's state for static/dashboard/backtest.js: the card's body as HTML, and the figure once done."""
    run = get_object_or_404(BacktestRun, pk=run_pk, rule_id=pk)
    backtest.expire_stale(run.rule)  # a run whose worker died ends the page's polling
    run.refresh_from_db()
    context = backtests.run_context(run)
    context["rule"] = run.rule
    return JsonResponse({
        "state": run.state,
        "active": run.active,
        "progress": run.progress,
        "message": run.message,
        "html": render_to_string("dashboard/_backtest_run.html", context, request),
        "figure": context["backtest_figure"],
    }, encoder=DjangoJSONEncoder)


@require_POST
@operator_required
def rule_approve(request, pk: int, event_pk: int):
    rule = get_object_or_404(MigrationRule, pk=pk)
    event = get_object_or_404(Event, pk=event_pk, rule_ref=rule.pk, action=Event.Action.RECOMMEND)
    try:
        evaluation = evaluate.approve_recommendation(
            event, request.user, override_window=request.POST.get("override_window") == "1"
        )
    except evaluate.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Approved recommendation #{event.pk}: {evaluation.result}: {evaluation.summary}")
    # Back where the button was (overview, rules list or the rule), never to another site.
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
        return redirect(back)
    return redirect("dashboard:rule", pk=rule.pk)


# --- Events and migrations ------------------------------------------------------


@login_required
def event_log(request):
    return render(request, "dashboard/events.html", pages.event_log(request.GET))


@login_required
def event_log_live(request):
    return _live(request, pages.event_log(request.GET), EVENTS_FRAGMENTS)


# --- Preferences ------------------------------------------------------------------


@login_required
def preferences(request):
    """The user's display time zone: every time on every page (and admin) is shown in it."""
    error = ""
    if request.method == "POST":
        name = request.POST.get("time_zone", "").strip()
        try:
            if name:
                clock.parse_zone(name)
        except ValueError as exc:
            error = str(exc)
        else:
            UserPreference.objects.update_or_create(user=request.user, defaults={"time_zone": name})
            messages.success(request, f"Times are now shown in {name or 'the server time zone'}.")
            return redirect("dashboard:preferences")
    current = user_zone_name(request)
    return render(request, "dashboard/preferences.html", {
        "zones": clock.zone_names(), "current": current, "server_zone": settings.TIME_ZONE, "error": error,
        "sample": clock.show(timezone.now()),
    })


@login_required
def migration_list(request):
    return render(request, "dashboard/migrations.html", pages.migration_list(request.GET))


@login_required
def migration_list_live(request):
    return _live(request, pages.migration_list(request.GET), MIGRATIONS_FRAGMENTS)
