"""`manage.py evaluate [--rule NAME]`: run the evaluator once, synchronously.

The very code Celery beat runs (services.evaluate.evaluate_rule); with --wait
it also runs the migration watcher until the batch ends, for use without a worker.
"""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from automigrate.engine import explain
from automigrate.models import MigrationRule
from automigrate.services import evaluate, execution, lock
from automigrate.services.rules import find_rule


class Command(BaseCommand):
    help = "Evaluate every enabled rule (or one, by name or id) once, as Celery beat would."

    def add_arguments(self, parser):
        parser.add_argument("--rule", help="only this rule (name or id); evaluated even if disabled")
        parser.add_argument("--wait", action="store_true",
                            help="then watch migrations until no batch is running (no Celery worker needed)")

    def handle(self, *args, **options):
        if options["rule"]:
            try:
                rules = [find_rule(options["rule"])]
            except (MigrationRule.DoesNotExist, MigrationRule.MultipleObjectsReturned) as exc:
                self.stderr.write(f"evaluate: {exc}")
                sys.exit(2)
            if not rules[0].enabled:
                self.stdout.write(f"{rules[0].name}: disabled; evaluating it anyway because you asked for it")
                rules[0].enabled = True  # in memory only: the rule stays disabled
        else:
            rules = list(MigrationRule.objects.filter(enabled=True))
            if not rules:
                self.stdout.write("no enabled rules")
        for rule in rules:
            evaluation = evaluate.evaluate_rule(rule)
            self.stdout.write(str(evaluation))
            for failure in evaluation.plan.failures if evaluation.plan else ():
                # The same records the find_result_fail event stores, as a table per guest.
                table = explain.failure_table_lines(failure, indent="    ")
                if table:
                    self.stdout.write(f"  no target for {failure.guest} on {failure.host}:")
                    self.stdout.write("\n".join(table))
        if options["wait"]:
            self.wait()

    def wait(self) -> None:
        interval = float(settings.AUTOMIGRATE["WATCH_INTERVAL_SECONDS"])
        while lock.holder_batch_id():
            time.sleep(interval)
            self.stdout.write(f"watch: {execution.watch_migrations()}")
