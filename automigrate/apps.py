from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


def ensure_fixed_rows(sender, using="default", **kwargs) -> None:
    """The operators group and the lock's single row must always exist.

    Migration 0002 creates them; this also restores them after a database
    flush (which emits post_migrate), so nothing depends on test ordering.
    """
    from django.contrib.auth.models import Group

    from automigrate.models import MigrationLock
    from automigrate.permissions import OPERATORS_GROUP

    Group.objects.using(using).get_or_create(name=OPERATORS_GROUP)
    MigrationLock.objects.using(using).get_or_create(pk=MigrationLock.SINGLETON_ID)


def event_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """Every new event may notify someone (webhooks, e-mail); loaded fixtures do not."""
    if created and not raw:
        from automigrate.services import notify

        notify.on_event(instance)


class AutomigrateConfig(AppConfig):
    name = "automigrate"
    verbose_name = "Automatic migration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(ensure_fixed_rows, sender=self)
        post_save.connect(event_saved, sender="automigrate.Event", dispatch_uid="automigrate-notify")
        from automigrate import checks  # noqa: F401
