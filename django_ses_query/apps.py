from django.apps import AppConfig


class SESQueryConfig(AppConfig):
    name = "django_ses_query"
    verbose_name = "Amazon SES"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  Registers the system checks.
