"""Where metrics come from: one module per source, chosen by settings.AUTOMIGRATE["METRIC_SOURCE"]."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

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
    """The source class a name stands for; ImproperlyConfigured, in one line, if it stands for none.

    Also called by the system check (automigrate.checks), so a typo in
    AUTOMIGRATE_METRIC_SOURCE is reported at start-up.
    """
    name = name or settings.AUTOMIGRATE["METRIC_SOURCE"]
    try:
        found = import_string(SOURCES.get(name, name))
    except ImportError as exc:
        found, why = None, f" ({str(exc).splitlines()[0]})" if "." in name else ""
    else:
        why = "" if isinstance(found, type) and issubclass(found, MetricSource) else " (not a MetricSource)"
    if why or found is None:
        raise ImproperlyConfigured(
            f"AUTOMIGRATE_METRIC_SOURCE={name!r} is not a metric source{why}: use {', '.join(SOURCES)},"
            " or the dotted path of a MetricSource class"
        )
    return found


def get_source(name: str | None = None) -> BoundedSource:
    """The configured source, every call bounded."""
    return bounded(source_class(name)())


__all__ = [
    "SOURCES", "BoundedSource", "MetricSource", "SourceError", "SourceTimedOut", "WindowMeans", "bounded",
    "get_source", "source_class",
]
