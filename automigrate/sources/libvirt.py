"""Metrics straight from libvirt (AUTOMIGRATE_METRIC_SOURCE=libvirt), no telegraf needed.

Beat samples every host every AUTOMIGRATE_SAMPLE_INTERVAL_SECONDS
(automigrate.services.libvirt_samples) and stores the samples in the same
tables /write fills, so rules, charts and the API read them unchanged: this
source reads them back exactly like the database source.
"""

from automigrate.sources.database import DatabaseSource


class LibvirtSource(DatabaseSource):
    name = "libvirt"
