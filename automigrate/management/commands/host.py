"""`manage.py host maintenance enter|exit HOST [--through-blackout]`: empty a host, or return it to service."""

from __future__ import annotations

from django.core.management.base import CommandError

from automigrate.management.commands.migrationalert import OneLineErrorCommand, OneLineErrorParser
from automigrate.models import Host
from automigrate.services import maintenance as maintenance_service


class Command(OneLineErrorCommand):
    help = "Host maintenance: `enter` moves every guest off and keeps the host out of service; `exit` returns it."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=OneLineErrorParser)
        maintenance = sub.add_parser("maintenance", help="enter or exit maintenance")
        maintenance.add_argument("mode", choices=["enter", "exit"])
        maintenance.add_argument("host", metavar="HOST")
        maintenance.add_argument("--through-blackout", action="store_true",
                                 help="evacuate even during a blackout window (recorded)")

    def handle(self, *args, **options):
        host = Host.objects.filter(name=options["host"]).first()
        if host is None:
            raise CommandError(f"no host named '{options['host']}'")
        try:
            if options["mode"] == "enter":
                outcome = maintenance_service.enter_maintenance(
                    host, "cli", through_blackout=options["through_blackout"]
                )
            else:
                outcome = maintenance_service.exit_maintenance(host, "cli")
        except maintenance_service.MaintenanceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(outcome.summary)
        for failure in outcome.left:
            self.stdout.write(f"  stays: {failure.notes}")
