"""`manage.py migrationalert`: rules from the shell, like the seed's `climc monitor-migrationalert-*`.

    migrationalert create [--period 2m] [--source-host H]... [--target-host H]...
                          [--source-guest G]... [--mode recommend] NAME cpu.usage_active.gt 60
    migrationalert list [--metric-type cpu.usage_active.gt]
    migrationalert show|delete|enable|disable ID|NAME
    migrationalert update ID|NAME [--name N] [--threshold T] [--period P] [--source-host H]... ...
    migrationalert events ID|NAME [--action A]... [--limit N] [--summary] [--time-zone ZONE]

Every change goes through automigrate.services.rules, so it is validated as in
admin and the API and writes its event. Events name `--user USER` as the actor;
without it, `cli:<login>` (the account that ran the command).

Every bad argument is one line on stderr and exit status 2, never a traceback.
Names and texts from the database are printed with control characters escaped
(``\x1b``): a rule name created through the API must not drive the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from automigrate import clock
from automigrate.engine.model import METRIC_TYPES
from automigrate.models import Event, Guest, Host, MigrationRule
from automigrate.services import rules as rule_service
from automigrate.services.rules import RES_NAME

TENANT = "system"
MAX_EVENTS_LIMIT = 10_000
USAGE_ERROR = 2  # the exit status of every bad argument, as argparse's own


class BadArgument(CommandError):
    """A one-line error about the command's input: exit status 2, control characters escaped."""

    def __init__(self, message: str):
        super().__init__(printable(message), returncode=USAGE_ERROR)


# C0 and C1 control characters, DEL, and the Unicode bidi controls that reorder what a terminal shows.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` with every control character as a visible escape (\\x1b, \\u202e): safe on a terminal."""
    def escape(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, "" if text is None else str(text))


class OneLineErrorParser(CommandParser):
    """Usage mistakes as one line on stderr (exit 2), not the whole usage text."""

    def error(self, message):
        if self.called_from_command_line:
            self.exit(USAGE_ERROR, f"{self.prog}: error: {printable(message)} (see --help)\n")
        raise BadArgument(f"Error: {message}")


class OneLineErrorCommand(BaseCommand):
    """A command whose usage mistakes, a missing or unknown subcommand included, are one line (exit 2)."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = lambda message: OneLineErrorParser.error(parser, message)
        return parser


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table drawn like climc's: +---+ rules, centered headers, left-aligned cells."""
    cells = [[printable(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) + 2 for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * w for w in widths) + "+"
    lines = [rule, "|" + "|".join(h.center(w) for h, w in zip(headers, widths, strict=True)) + "|", rule]
    lines += ["|" + "|".join(f" {c}".ljust(w) for c, w in zip(row, widths, strict=True)) + "|" for row in cells]
    if cells:
        lines.append(rule)
    return "\n".join(lines)


def _event_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{printable(text)[:40]}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    if value > MAX_EVENTS_LIMIT:
        raise argparse.ArgumentTypeError(f"{printable(text)[:40]} is too many: at most {MAX_EVENTS_LIMIT}")
    return value


def _metric(metric_type: str) -> str:
    try:
        return METRIC_TYPES[metric_type]
    except KeyError:
        raise BadArgument(
            f"'{metric_type}' is not a metric type: use {' or '.join(METRIC_TYPES)}"
        ) from None


def _by_name(model, names: list[str], kind: str) -> list:
    found = {obj.name: obj for obj in model.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise BadArgument(f"no {kind} named {', '.join(repr(n) for n in missing)}")
    return [found[n] for n in names]


def _join(objects) -> str:
    return ",".join(sorted(o.name for o in objects))


class Command(OneLineErrorCommand):
    help = "Create, list, show, change and delete migration rules, and read their events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=OneLineErrorParser)

        def command(name: str, help_text: str, rule_arg: bool = True):
            p = sub.add_parser(name, help=help_text, description=help_text)
            p.add_argument("--user", help="act as this Django user (default: cli:<your login>)")
            if rule_arg:
                p.add_argument("rule", metavar="ID|NAME", help="the rule's id or name")
            return p

        create = command("create", "create a rule", rule_arg=False)
        create.add_argument("name", metavar="NAME")
        create.add_argument("metric_type", metavar="METRIC_TYPE", help=" or ".join(METRIC_TYPES))
        create.add_argument("threshold", metavar="THRESHOLD", help="CPU percent (0-100] or memory bytes / 8G / 512M")
        create.add_argument("--period", default="5m", help="check interval and averaging window (default 5m)")
        create.add_argument("--mode", choices=MigrationRule.Mode.values, default=MigrationRule.Mode.AUTOMATIC)
        create.add_argument("--disabled", action="store_true", help="create it switched off")
        create.add_argument("--windows", dest="allowed_windows", metavar="SPEC",
                            help="allowed migration windows, e.g. 'Mon-Fri 22:00-06:00' (default: any time)")
        self._relation_options(create)

        listing = command("list", "list rules", rule_arg=False)
        listing.add_argument("--metric-type", choices=list(METRIC_TYPES))

        command("show", "show one rule")

        update = command("update", "change a rule (only the options given)")
        update.add_argument("--name")
        update.add_argument("--metric-type", choices=list(METRIC_TYPES))
        update.add_argument("--threshold")
        update.add_argument("--period")
        update.add_argument("--mode", choices=MigrationRule.Mode.values)
        update.add_argument("--windows", dest="allowed_windows", metavar="SPEC",
                            help="allowed migration windows; '' for any time")
        self._relation_options(update, clearable=True)

        command("delete", "delete a rule (its events stay)")
        command("enable", "switch a rule on")
        command("disable", "switch a rule off")

        events = command("events", "a rule's events, newest first (also of a deleted rule)")
        events.add_argument("--action", action="append", choices=Event.Action.values, dest="actions",
                            help="only this action (repeatable)")
        events.add_argument("--limit", type=_event_limit, default=50,
                            help=f"at most N events (default 50, at most {MAX_EVENTS_LIMIT})")
        events.add_argument("--summary", action="store_true",
                            help="one readable line per event (time, action, who, summary) instead of the wide table")
        for parser_with_times in (events, sub.choices["show"]):
            parser_with_times.add_argument(
                "--time-zone", metavar="ZONE", default=None,
                help="show times in this IANA zone, e.g. Europe/Berlin (default: the server's TIME_ZONE)",
            )

        # Moving over from Cloudpods' alpha feature (see do_import_cloudpods).
        command("import-cloudpods", "create recommend-mode rules from Cloudpods' migration alerts", rule_arg=False)

    @staticmethod
    def _relation_options(parser, clearable: bool = False) -> None:
        for option, what in (("source-host", "watch only this host"), ("target-host", "move only to this host"),
                             ("source-guest", "move only this guest")):
            dest = option.replace("-", "_") + "s"
            parser.add_argument(f"--{option}", action="append", dest=dest, metavar=option.split("-")[1].upper(),
                                help=f"{what} (repeatable{'; replaces the list' if clearable else ''})")
            if clearable:
                parser.add_argument(f"--no-{option}s", action="store_true", dest=f"clear_{dest}",
                                    help=f"empty the {option.replace('-', ' ')} list")

    def handle(self, *args, **options):
        self.actor = self._actor(options.get("user"))
        handler = getattr(self, f"do_{options['action']}")
        try:
            handler(options)
        except ValidationError as exc:
            raise BadArgument(_one_line(exc)) from None

    # --- subcommands

    def do_create(self, options) -> None:
        data = {
            "name": options["name"],
            "metric": _metric(options["metric_type"]),
            "threshold": options["threshold"],
            "period": options["period"],
            "mode": options["mode"],
            "enabled": not options["disabled"],
            **self._relations(options),
        }
        if options["allowed_windows"] is not None:
            data["allowed_windows"] = options["allowed_windows"]
        rule = rule_service.create_rule(data, self.actor)
        self._show(rule)

    def do_list(self, options) -> None:
        rules = MigrationRule.objects.order_by("name")
        if options["metric_type"]:
            rules = rules.filter(metric=METRIC_TYPES[options["metric_type"]])
        rows = [
            (r.pk, r.name, r.metric_type, r.threshold_display, r.period_display, r.mode, str(r.enabled).lower())
            for r in rules
        ]
        self.stdout.write(format_table(("id", "name", "metric_type", "threshold", "period", "mode", "enabled"), rows))

    def do_show(self, options) -> None:
        self._show(self._rule(options["rule"]), _zone(options.get("time_zone")))

    def do_update(self, options) -> None:
        rule = self._rule(options["rule"])
        keys = ("name", "threshold", "period", "mode", "allowed_windows")
        data = {key: options[key] for key in keys if options[key] is not None}
        if options["metric_type"]:
            data["metric"] = METRIC_TYPES[options["metric_type"]]
        data.update(self._relations(options))
        if not data:
            raise BadArgument("nothing to change: give at least one option, see `migrationalert update --help`")
        self._show(rule_service.update_rule(rule, data, self.actor))

    def do_delete(self, options) -> None:
        rule = self._rule(options["rule"])
        rule_id, name = rule.pk, rule.name
        rule_service.delete_rule(rule, self.actor)
        self.stdout.write(f"deleted rule {rule_id} ({printable(name)})")

    def do_enable(self, options) -> None:
        self._show(rule_service.set_enabled(self._rule(options["rule"]), True, self.actor))

    def do_disable(self, options) -> None:
        self._show(rule_service.set_enabled(self._rule(options["rule"]), False, self.actor))

    def do_events(self, options) -> None:
        zone = _zone(options.get("time_zone"))
        events = Event.objects.filter(**self._event_owner(options["rule"])).order_by("-time", "-id")
        if options["actions"]:
            events = events.filter(action__in=options["actions"])
        if options["summary"]:
            for e in events[: options["limit"]]:
                self.stdout.write(f"{clock.show(e.time, with_seconds=True, zone=zone)}  #{e.pk} {e.action}"
                                  f"  {e.rule_name}  by {e.user}: {e.summary}")
            return
        rows = [
            (
                e.pk, _iso(e.time, zone), e.rule_ref, RES_NAME, e.rule_name, e.user, TENANT, e.action,
                json.dumps(e.notes, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if e.notes
                else e.summary,
            )
            for e in events[: options["limit"]]
        ]
        headers = ("id", "ops_time", "obj_id", "obj_type", "obj_name", "user", "tenant", "action", "notes")
        self.stdout.write(format_table(headers, rows))

    def do_import_cloudpods(self, options) -> None:
        """Read the monitor's migration alerts and create the same rules here, in recommend mode."""
        from django.conf import settings

        from automigrate.platforms.cloudpods import client_from_settings
        from automigrate.platforms.cloudpods.client import CloudpodsError
        from automigrate.platforms.cloudpods.platform import missing_settings
        from automigrate.services.cloudpods_import import import_alerts
        from automigrate.services.inventory import sync_inventory

        if missing_settings():
            raise CommandError(f"Cloudpods is not configured: set {', '.join(missing_settings())}")
        if settings.AUTOMIGRATE["PLATFORM"] == "cloudpods":
            # Alerts name Cloudpods host and server ids: the inventory must know them first.
            report = sync_inventory()
            self.stdout.write(f"inventory: {report.error or str(report)}")
        try:
            alerts = client_from_settings().migration_alerts()
        except CloudpodsError as exc:
            raise CommandError(f"Cloudpods' migration alerts not read: {exc}") from None
        rows = import_alerts(alerts, self.actor)
        table = [(r.alert_id, r.alert_name, r.metric_type, "created" if r.rule else "not mapped", r.why) for r in rows]
        self.stdout.write(format_table(("alert_id", "name", "metric_type", "result", "rule / why"), table))
        created = [r for r in rows if r.rule]
        self.stdout.write(f"{len(created)} rule(s) created in recommend mode, {len(rows) - len(created)} not mapped.")
        if created:
            self.stdout.write(
                "Now disable the originals in Cloudpods, so two systems never migrate at once"
                " (climc monitor-migrationalert-delete ID, or switch each alert off):\n  "
                + " ".join(r.alert_id for r in created)
                + "\nThen watch the recommendations (`migrationalert events NAME --action recommend`) and switch"
                " a rule to automatic with `migrationalert update NAME --mode automatic`."
            )

    # --- helpers

    def _actor(self, username: str | None):
        if username is None:
            try:
                login = getpass.getuser()
            except (KeyError, OSError):  # no passwd entry, e.g. in some containers
                login = "unknown"
            return f"cli:{login}"
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise BadArgument(f"no active user named '{username}': create one in admin, or leave out --user")
        return user

    @staticmethod
    def _rule(id_or_name: str) -> MigrationRule:
        try:
            return rule_service.find_rule(id_or_name)
        except MigrationRule.DoesNotExist as exc:
            raise BadArgument(f"{exc}: see `migrationalert list`") from None
        except rule_service.AmbiguousRule as exc:
            raise BadArgument(str(exc)) from None

    @staticmethod
    def _event_owner(id_or_name: str) -> dict:
        """Filter for a rule's events; a deleted rule is found by its old id or name."""
        try:
            return {"rule_ref": rule_service.find_rule(id_or_name).pk}
        except MigrationRule.DoesNotExist:
            pass
        except rule_service.AmbiguousRule as exc:
            raise BadArgument(str(exc)) from None
        if Event.objects.filter(rule_name=id_or_name).exists():
            return {"rule_name": id_or_name}
        if (id_or_name.isascii() and id_or_name.isdigit() and int(id_or_name) <= rule_service.MAX_RULE_ID
                and Event.objects.filter(rule_ref=int(id_or_name)).exists()):
            return {"rule_ref": int(id_or_name)}
        raise BadArgument(f"no rule with id or name '{id_or_name}', now or in the event log")

    @staticmethod
    def _relations(options) -> dict:
        data = {}
        for field, model, kind in (("source_hosts", Host, "host"), ("target_hosts", Host, "host"),
                                   ("source_guests", Guest, "guest")):
            if options.get(f"clear_{field}"):
                if options[field]:
                    raise BadArgument(f"--no-{field.replace('_', '-')} and --{field[:-1].replace('_', '-')} "
                                      "contradict each other: give one")
                data[field] = []
            elif options[field]:
                data[field] = _by_name(model, options[field], kind)
        return data

    def _show(self, rule: MigrationRule, zone=None) -> None:
        rows = [
            ("id", rule.pk), ("name", rule.name), ("metric_type", rule.metric_type),
            ("threshold", rule.threshold_display), ("period", rule.period_display), ("mode", rule.mode),
            ("enabled", str(rule.enabled).lower()), ("allowed_windows", rule.allowed_windows or "any time"),
            ("source_hosts", _join(rule.source_hosts.all())), ("target_hosts", _join(rule.target_hosts.all())),
            ("source_guests", _join(rule.source_guests.all())),
            ("created_by", rule_service.creator_name(rule)),
            ("created_at", _iso(rule.created_at, zone, seconds_only=True)),
            ("updated_at", _iso(rule.updated_at, zone, seconds_only=True)),
        ]
        self.stdout.write(format_table(("Field", "Value"), rows))


def _zone(name: str | None):
    """The --time-zone option as a zone; None keeps the seed's UTC output."""
    if name is None:
        return None
    try:
        return clock.parse_zone(name)
    except ValueError as exc:
        raise CommandError(f"--time-zone: {exc}") from None


def _iso(value, zone, seconds_only: bool = False) -> str:
    """The seed's ISO times (UTC, Z) by default; with --time-zone, ISO with that zone's offset."""
    if zone is None:
        return f"{value:%Y-%m-%dT%H:%M:%SZ}" if seconds_only else f"{value:%Y-%m-%dT%H:%M:%S.%fZ}"
    local = value.astimezone(zone)
    return local.isoformat(timespec="seconds" if seconds_only else "microseconds")


def _one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)


# argparse names the subcommand "import-cloudpods"; handle() looks up do_<name>.
setattr(Command, "do_import-cloudpods", Command.do_import_cloudpods)
