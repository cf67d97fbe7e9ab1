"""manage.py inventory sync: read the configured platform and bring hosts and guests up to date."""

from django.core.management.base import BaseCommand, CommandError

from automigrate.services.inventory import sync_inventory


class Command(BaseCommand):
    help = "Read the platform's hosts and guests (AUTOMIGRATE_PLATFORM) and print what changed."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["sync"], help="sync: read the platform now")

    def handle(self, *args, **options):
        report = sync_inventory()
        if report.skipped:
            self.stdout.write(str(report))
            return
        if report.error:
            raise CommandError(str(report))
        if not report.changes:
            self.stdout.write(f"{report.platform}: inventory up to date, nothing changed")
            return
        width = max(len(name) for _, name, _ in report.changes)
        self.stdout.write(f"{'KIND':<6} {'NAME':<{width}} CHANGE")
        for kind, name, change in report.changes:
            self.stdout.write(f"{kind:<6} {name:<{width}} {change}")
        self.stdout.write(f"{len(report.changes)} change(s) from {report.platform}")
