from django.apps import AppConfig


class AutomigrateConfig(AppConfig):
    name = "automigrate"
    verbose_name = "Automatic migration"
    default_auto_field = "django.db.models.BigAutoField"
