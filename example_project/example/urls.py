from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The SES events webhook: /ses/events/
    path("ses/", include("django_ses_query.urls")),
]
