"""`manage.py metrics probe [--window 5m] [--hosts-only]`: does the metric source answer, and for whom?

Asks the configured source (AUTOMIGRATE_METRIC_SOURCE) the evaluator's two
questions over the window and prints how long it took and which configured
hosts and guests it has no samples for. Exit code 1 when the source does not
answer, 2 for a bad argument.
"""

import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand

from automigrate.services.probe import probe
from automigrate.units import parse_period


class Command(BaseCommand):
    help = "Check the metric source: `metrics probe` asks it for every host's and guest's window means."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["probe"], help="probe: ask the source as an evaluation would")
        parser.add_argument("--window", default="5m", help="how far back to look: 30s, 5m, 1h (default 5m)")
        parser.add_argument("--hosts-only", action="store_true", help="ask for host means only (one request)")

    def handle(self, *args, **options):
        try:
            window = parse_period(options["window"])
        except ValueError as exc:
            self.stderr.write(f"metrics probe: --window: {exc}")
            sys.exit(2)
        try:
            result = probe(window, guests=not options["hosts_only"])
        except ImproperlyConfigured as exc:
            self.stderr.write(f"metrics probe: {exc}")
            sys.exit(2)
        for line in result.lines():
            (self.stdout if result.ok else self.stderr).write(line)
        if not result.ok:
            sys.exit(1)
