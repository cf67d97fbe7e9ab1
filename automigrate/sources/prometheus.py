"""Prometheus (2.x) as the metric source: PromQL over HTTP, see automigrate.sources.promql.

Telegraf's series as its prometheus outputs name them (``cpu_usage_active``,
``mem_available``, ``vm_cpu_usage_active``), pushed by remote write or
scraped. Ranges are closed at the start in Prometheus, so windows are asked
as ``[d - 1ms]`` to leave a sample exactly on ``since`` out.
"""

from automigrate.sources.promql import PromQLSource


class PrometheusSource(PromQLSource):
    name = "prometheus"
    range_closed_at_start = True
