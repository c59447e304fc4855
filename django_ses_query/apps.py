from importlib import import_module

from django.apps import AppConfig


class SESQueryConfig(AppConfig):
    name = "django_ses_query"
    verbose_name = "Amazon SES"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self) -> None:
        super().import_models()
        # Capabilities keep their models in their own package, under this
        # app's label: registered here, with the others.
        import_module(f"{self.name}.inbound.models")

    def ready(self) -> None:
        from . import checks  # noqa: F401  Registers the system checks.
        from . import handoff
        from .inbound.receive import receive_notification

        handoff.register("Received", receive_notification)
