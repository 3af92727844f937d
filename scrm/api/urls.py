"""The v1 API: each app contributes its routes here."""

from django.urls import include, path, re_path

from scrm.api.views import WhoAmIView, api_not_found

urlpatterns = [
    path("whoami/", WhoAmIView.as_view(), name="api-whoami"),
    path("", include("members.api.urls")),
    path("", include("campaigns.api.channel_urls")),
    path("", include("campaigns.api.urls")),
    path("", include("referrals.api.urls")),
    path("", include("groups.api.urls")),
    # Last: whatever matched nothing above.
    re_path(r"^", api_not_found),
]
