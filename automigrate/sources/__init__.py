"""Where metrics come from: one module per source, chosen by settings.AUTOMIGRATE["METRIC_SOURCE"]."""

from django.conf import settings

from automigrate.registry import resolve
from automigrate.sources.base import MetricSource, SourceError, WindowMeans
from automigrate.sources.bounded import BoundedSource, SourceTimedOut, bounded

# The simulator writes its samples into the same tables the InfluxDB /write
# endpoint fills, so both read them back through the database source.
SOURCES = {
    "simulator": "automigrate.sources.database.DatabaseSource",
    "database": "automigrate.sources.database.DatabaseSource",
    # Stores the admins already run (telegraf's series, read in place).
    "influxdb": "automigrate.sources.influxdb.InfluxDBSource",
    "victoriametrics": "automigrate.sources.victoriametrics.VictoriaMetricsSource",
    "prometheus": "automigrate.sources.prometheus.PrometheusSource",
    "proxmox": "automigrate.sources.proxmox.ProxmoxSource",
    # Samples collected from libvirt by beat (automigrate.services.libvirt_samples), read like pushed ones.
    "libvirt": "automigrate.sources.libvirt.LibvirtSource",
}


def source_class(name: str | None = None) -> type[MetricSource]:
    """The source class a name stands for; ImproperlyConfigured, in one line, if it stands for none."""
    name = name or settings.AUTOMIGRATE["METRIC_SOURCE"]
    return resolve(name, SOURCES, MetricSource, setting="AUTOMIGRATE_METRIC_SOURCE", noun="metric source")


def get_source(name: str | None = None) -> BoundedSource:
    """The configured source, every call bounded."""
    return bounded(source_class(name)())


__all__ = [
    "SOURCES", "BoundedSource", "MetricSource", "SourceError", "SourceTimedOut", "WindowMeans", "bounded",
    "get_source", "source_class",
]
