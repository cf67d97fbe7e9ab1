"""``manage.py plan --scenario FILE.json``: what would the engine do? Prints the plan as JSON (or ``--text``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from automigrate.engine import explain, plan
from automigrate.engine.maintenance import UnknownHost, evacuate, repair
from automigrate.engine.registry import POLICIES, descriptions
from automigrate.engine.scenario import ScenarioError, load_scenario


class Command(BaseCommand):
    help = "Plan migrations for a scenario file (a rule and a cluster snapshot) and print the plan as JSON."
    requires_system_checks: list[str] = []  # a pure what-if: needs no database or app checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", required=True, help="scenario JSON file")
        # Checked in handle(): a bad name gets one line, not argparse's usage block.
        parser.add_argument("--policy", default="automigrate",
                            help="; ".join(f"{name}: {text}" for name, text in descriptions().items()))
        parser.add_argument("--evacuate", metavar="HOST", help="plan emptying HOST for maintenance instead of the rule")
        parser.add_argument("--repair", action="store_true", help="plan the repair of must-group violations instead")
        parser.add_argument("--text", action="store_true",
                            help="print the plan for people (moves, and a table per guest no target took) instead")

    def handle(self, *args: object, **options: object) -> None:
        if options["policy"] not in POLICIES:
            raise CommandError(f"--policy {options['policy']!r}: use one of {', '.join(POLICIES)}", returncode=2)
        try:
            snapshot, rule = load_scenario(str(options["scenario"]))
        except ScenarioError as exc:
            # Exit 2 with one line: the field and what is allowed.
            raise CommandError(str(exc), returncode=2) from exc
        if options["evacuate"]:
            try:
                result = evacuate(snapshot, str(options["evacuate"]))
            except UnknownHost as exc:
                raise CommandError(f"--evacuate: unknown host {options['evacuate']!r} (not in the hosts list)",
                                   returncode=2) from exc
        elif options["repair"]:
            result = repair(snapshot)
        else:
            result = plan(snapshot, rule, policy=str(options["policy"]))
        if options["text"]:
            self.stdout.write("\n".join(explain.plan_lines(result)))
        else:
            self.stdout.write(json.dumps(result.to_dict(), indent=2))
