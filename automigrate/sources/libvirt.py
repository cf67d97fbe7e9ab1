"""Metrics straight from libvirt (AUTOMIGRATE_METRIC_SOURCE=libvirt), no telegraf needed.

Beat samples every host every AUTOMIGRATE_SAMPLE_INTERVAL_SECONDS
(automigrate.services.libvirt_samples) and stores the samples in the same
tables /write fills, so rules, charts and the API read them unchanged: this
source reads them back exactly like the database source.
"""

from datetime import datetime

from automigrate.sources.database import DatabaseSource


class LibvirtSource(DatabaseSource):
    name = "libvirt"

    def sample(self, now: datetime) -> str:
        """One round for beat's sampling task (each host's read is bounded in read_all)."""
        from automigrate.services.libvirt_samples import collect_samples

        return str(collect_samples(now))
