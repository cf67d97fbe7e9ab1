"""`manage.py simulator seed|stress|calm|status|tick`: drive the simulated cluster by hand."""

import sys

from django.core.management.base import BaseCommand

from automigrate.simulator import cluster, workloads


class Command(BaseCommand):
    help = "Seed the simulated cluster, change a guest's load, or show the cluster."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        seed = sub.add_parser("seed", help="create simulated hosts and guests")
        seed.add_argument("--hosts", type=int, default=12)
        seed.add_argument("--guests", type=int, default=150)
        seed.add_argument("--seed", type=int, default=0, help="random seed (sizes, placement, workloads)")
        seed.add_argument("--backfill", default="2m", help="write samples for this long back (default 2m, 0 = none)")
        stress = sub.add_parser("stress", help="pin all of a guest's vCPUs at 100 %% (like stress-ng)")
        stress.add_argument("guest")
        calm = sub.add_parser("calm", help="give a guest a steady, low load")
        calm.add_argument("guest")
        calm.add_argument("--level", type=float, default=5.0, help="CPU %% of its vCPUs (default 5)")
        sub.add_parser("status", help="hosts with their latest samples, and stressed guests")
        sub.add_parser("tick", help="write one round of samples now (beat does this every 10 s)")

    def handle(self, *args, **options):
        from automigrate.units import parse_period

        action = options["action"]
        try:
            if action == "seed":
                raw = options["backfill"]
                # Up to a week of history, so the host charts' 7-day range has data.
                backfill = 0 if raw in ("0", "") else parse_period(raw, maximum=7 * 86400)
                summary = cluster.seed_cluster(
                    hosts=options["hosts"], guests=options["guests"], seed=options["seed"], backfill_seconds=backfill
                )
                self.stdout.write(str(summary))
            elif action == "stress":
                guest = cluster.set_workload(options["guest"], workloads.STRESS)
                self.stdout.write(f"{guest.name}: all {guest.vcpu_count} vCPUs at 100 % from the next sample")
            elif action == "calm":
                guest = cluster.set_workload(options["guest"], workloads.STEADY, level=options["level"])
                self.stdout.write(f"{guest.name}: steady at {options['level']:g} % from the next sample")
            elif action == "tick":
                hosts, guests = cluster.tick()
                self.stdout.write(f"wrote {hosts} host and {guests} guest samples")
            else:
                self.stdout.write(cluster.describe())
        except (cluster.SimulatorError, ValueError) as exc:
            self.stderr.write(f"simulator: {exc}")
            sys.exit(2)
