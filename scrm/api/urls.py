"""The v1 API: each app contributes its routes here."""

from django.urls import include, path

urlpatterns = [
    path("", include("members.api.urls")),
]
