"""First-start setup for `make run`: an admin user, the beat schedules, a demo cluster.

Safe to run again: each step does nothing when its work is already done.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from automigrate.services import schedule


class Command(BaseCommand):
    help = "Create the admin user, the Celery beat schedules and (on the simulator) a demo cluster."

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="do not seed the simulated demo cluster")

    def handle(self, *args, **options):
        self.ensure_admin()
        schedule.ensure_system_schedules()
        self.first_inventory()
        if not options["no_demo"] and settings.AUTOMIGRATE["METRIC_SOURCE"] == "simulator":
            from automigrate.services import demo

            self.stdout.write(demo.ensure_demo_cluster())
        if not options["no_demo"] and os.environ.get("AUTOMIGRATE_LIBVIRT_LAB") == "1":
            from automigrate.services import demo

            self.stdout.write(demo.ensure_libvirt_lab())

    def first_inventory(self) -> None:
        """On a real platform, read its hosts and guests now, so the first page shows them."""
        from automigrate.platforms import get_platform
        from automigrate.services.inventory import sync_inventory

        platform = get_platform()
        if platform.has_inventory:
            report = sync_inventory(platform)
            self.stdout.write(f"Inventory: {report}" if report.error else f"Inventory of {report.platform}: "
                              f"{len(report.changes)} change(s); `manage.py inventory sync` shows them")

    def ensure_admin(self) -> None:
        User = get_user_model()
        username = os.environ.get("AUTOMIGRATE_ADMIN_USER", "admin")
        password_file = settings.VAR_DIR / "admin_password"
        if User.objects.filter(is_superuser=True).exists():
            if password_file.exists() and User.objects.filter(username=username).exists():
                self.stdout.write(f"Log in as {username} / {password_file.read_text().strip()}")
            return
        password = os.environ.get("AUTOMIGRATE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if "AUTOMIGRATE_ADMIN_PASSWORD" not in os.environ:
            password_file.write_text(password)
            password_file.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Created admin user. Log in as {username} / {password}"))
