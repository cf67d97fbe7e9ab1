"""System checks: settings that would otherwise fail only when the first batch runs.

A wrong AUTOMIGRATE_DRIVER used to surface as an ImportError traceback in the
middle of an evaluation; `manage.py check` (run by runserver, migrate and the
deploy scripts) now names the setting and what it may be.

An external metric source (InfluxDB, VictoriaMetrics, Prometheus) is also
asked once for every host's means (one request, bounded by
AUTOMIGRATE_METRIC_TIMEOUT_SECONDS): a warning names it when it does not
answer, or the hosts it has no samples for.
"""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from automigrate import drivers, platforms, sources


@checks.register()
def check_driver_and_metric_source(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    resolvers = (
        ("automigrate.E003", platforms.platform_class),
        ("automigrate.E001", drivers.driver_class),
        ("automigrate.E002", sources.source_class),
    )
    for check_id, resolve in resolvers:
        try:
            resolve()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=check_id))
    if not errors:
        # The platform's own settings (e.g. AUTOMIGRATE_LIBVIRT_HOSTS), checked without network calls.
        platform = platforms.get_platform()
        errors += [checks.Error(line, id="automigrate.E004") for line in platform.check()]
        # Warnings: what need not stop the processes (e.g. Cloudpods' Keystone did not answer last time).
        errors += [checks.Warning(line, id="automigrate.W004") for line in platform.warnings()]
    return errors


@checks.register()
def check_metric_source_answers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """One request to an external source; nothing for sources that read our own tables."""
    from automigrate.services.probe import probe

    try:
        source_class = sources.source_class()
    except ImproperlyConfigured:
        return []  # E002 says it
    if source_class.reads_our_tables:
        return []
    try:
        source = source_class()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="automigrate.E003")]
    try:
        result = probe(guests=False, source=source)
    except DatabaseError as exc:  # e.g. no tables yet before the first migrate: no hosts to look for
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [checks.Warning(f"{source.describe()}: not probed ({reason})", id="automigrate.W002")]
    if not result.ok:
        return [checks.Warning(result.error, hint="manage.py metrics probe asks again", id="automigrate.W001")]
    if result.hosts_without_data:
        return [checks.Warning("; ".join(result.lines()[1:]), id="automigrate.W001")]
    return []
