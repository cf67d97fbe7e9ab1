"""Where metrics come from: one module per source, chosen by settings.AUTOMIGRATE["METRIC_SOURCE"]."""

from django.conf import settings
from django.utils.module_loading import import_string

from automigrate.sources.base import MetricSource, WindowMeans

# The simulator writes its samples into the same tables the InfluxDB /write
# endpoint fills, so both read them back through the database source.
SOURCES = {
    "simulator": "automigrate.sources.database.DatabaseSource",
    "database": "automigrate.sources.database.DatabaseSource",
}


def get_source(name: str | None = None) -> MetricSource:
    name = name or settings.AUTOMIGRATE["METRIC_SOURCE"]
    return import_string(SOURCES.get(name, name))()


__all__ = ["SOURCES", "MetricSource", "WindowMeans", "get_source"]
