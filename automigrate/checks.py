"""System checks: settings that would otherwise fail only when the first batch runs.

A wrong AUTOMIGRATE_DRIVER used to surface as an ImportError traceback in the
middle of an evaluation; `manage.py check` (run by runserver, migrate and the
deploy scripts) now names the setting and what it may be.
"""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

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
        errors += [checks.Error(line, id="automigrate.E004") for line in platforms.get_platform().check()]
    return errors

