"""The SES events webhook and the unsubscribe endpoint:
``path("ses/", include("django_ses_query.urls"))`` makes them
``/ses/events/`` and ``/ses/unsubscribe/<token>/``."""

from django.urls import path

from .events.views import events
from .unsubscribe.views import unsubscribe

app_name = "django_ses_query"
urlpatterns = [
    path("events/", events, name="events"),
    path("unsubscribe/<str:token>/", unsubscribe, name="unsubscribe"),
]
