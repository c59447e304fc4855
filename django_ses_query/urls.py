"""The SES events webhook: ``path("ses/", include("django_ses_query.urls"))``
makes it ``/ses/events/``."""

from django.urls import path

from .events.views import events

app_name = "django_ses_query"
urlpatterns = [path("events/", events, name="events")]
