"""VictoriaMetrics (single node) as the metric source: PromQL over HTTP, see automigrate.sources.promql.

It takes telegraf's line protocol at ``/write`` and names the series
``cpu_usage_active``, ``mem_available``, ``vm_cpu_usage_active``. Its ranges
already leave the start out. ``nocache=1``: its response cache would keep
answering with what it saw before late samples arrived. By default it hides
the newest 30 s of samples (``-search.latencyOffset``); start it with
``-search.latencyOffset=0s`` for windows that end now, or accept that lag.
"""

from automigrate.sources.promql import PromQLSource


class VictoriaMetricsSource(PromQLSource):
    name = "victoriametrics"
    range_closed_at_start = False
    extra_params = {"nocache": "1"}
