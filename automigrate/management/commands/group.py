"""`manage.py group`: placement groups from the shell.

    group create NAME KIND [--strength must|should] [--guest G]... [--host H]... [--description TEXT]
    group list
    group show NAME
    group add|remove NAME [--guest G]... [--host H]...
    group delete NAME
    group violations
    group repair [--through-blackout]

Every change goes through automigrate.services.placement, so it is checked
against the other groups as in admin and the API, and writes its event.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from automigrate.engine.model import GROUP_KINDS, STRENGTHS
from automigrate.management.commands.migrationalert import (
    OneLineErrorCommand,
    OneLineErrorParser,
    _one_line,
    format_table,
)
from automigrate.models import PlacementGroup
from automigrate.services import maintenance as maintenance_service
from automigrate.services import placement as placement_service


class Command(OneLineErrorCommand):
    help = "Create, list, show, change and delete placement groups; show and repair violations."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=OneLineErrorParser)

        def members(p):
            p.add_argument("--guest", action="append", dest="guests", default=[], metavar="GUEST")
            p.add_argument("--host", action="append", dest="hosts", default=[], metavar="HOST")

        create = sub.add_parser("create", help="create a group")
        create.add_argument("name", metavar="NAME")
        # Not argparse choices: the service's message names the field and what is allowed.
        create.add_argument("kind", metavar="KIND", help=", ".join(GROUP_KINDS))
        create.add_argument("--strength", default="must", help=" or ".join(STRENGTHS) + " (default must)")
        create.add_argument("--description", default="")
        members(create)
        sub.add_parser("list", help="list groups")
        for name, text in (("show", "show one group"), ("delete", "delete a group")):
            sub.add_parser(name, help=text).add_argument("name", metavar="NAME")
        for name, text in (("add", "add guests or hosts"), ("remove", "remove guests or hosts")):
            p = sub.add_parser(name, help=text)
            p.add_argument("name", metavar="NAME")
            members(p)
        sub.add_parser("violations", help="groups the cluster breaks now")
        repair = sub.add_parser("repair", help="start the fewest moves that end every must violation")
        repair.add_argument("--through-blackout", action="store_true", help="also during a blackout window")

    def handle(self, *args, **options):
        self.actor = "cli"
        try:
            getattr(self, f"do_{options['action']}")(options)
        except ValidationError as exc:
            raise CommandError(_one_line(exc)) from None

    def do_create(self, options) -> None:
        group = placement_service.create_group({
            "name": options["name"], "kind": options["kind"], "strength": options["strength"],
            "guests": options["guests"], "hosts": options["hosts"], "description": options["description"],
        }, self.actor)
        self._show(group)

    def do_list(self, options) -> None:
        rows = [(g.pk, g.name, g.kind, g.strength, ",".join(sorted(x.name for x in g.guests.all())),
                 ",".join(sorted(h.name for h in g.hosts.all())))
                for g in PlacementGroup.objects.prefetch_related("guests", "hosts")]
        self.stdout.write(format_table(("id", "name", "kind", "strength", "guests", "hosts"), rows))

    def do_show(self, options) -> None:
        self._show(self._group(options["name"]))

    def do_add(self, options) -> None:
        self._need_members(options)
        group = self._group(options["name"])
        self._show(placement_service.add_members(group, options["guests"], options["hosts"], self.actor))

    def do_remove(self, options) -> None:
        self._need_members(options)
        group = self._group(options["name"])
        self._show(placement_service.remove_members(group, options["guests"], options["hosts"], self.actor))

    def do_delete(self, options) -> None:
        group = self._group(options["name"])
        placement_service.delete_group(group, self.actor)
        self.stdout.write(f"deleted group {options['name']}")

    def do_violations(self, options) -> None:
        found = placement_service.current_violations()
        if not found:
            self.stdout.write("no placement group is violated")
        for v in found:
            self.stdout.write(v.text)

    def do_repair(self, options) -> None:
        outcome = maintenance_service.repair(self.actor, through_blackout=options["through_blackout"])
        self.stdout.write(outcome.summary)

    @staticmethod
    def _need_members(options) -> None:
        if not options["guests"] and not options["hosts"]:
            raise CommandError("give at least one --guest or --host")

    @staticmethod
    def _group(name: str) -> PlacementGroup:
        group = PlacementGroup.objects.filter(name=name).first()
        if group is None:
            raise CommandError(f"no group named '{name}': see `group list`")
        return group

    def _show(self, group: PlacementGroup) -> None:
        rows = [
            ("id", group.pk), ("name", group.name), ("kind", group.kind), ("strength", group.strength),
            ("guests", ",".join(sorted(g.name for g in group.guests.all()))),
            ("hosts", ",".join(sorted(h.name for h in group.hosts.all()))),
            ("description", group.description),
        ]
        self.stdout.write(format_table(("Field", "Value"), rows))
