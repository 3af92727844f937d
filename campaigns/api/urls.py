"""Routes of the campaigns API under /api/v1/ (included from scrm.api.urls)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from campaigns.api import campaigns

router = SimpleRouter()
router.register("campaigns", campaigns.CampaignViewSet, basename="campaign")

urlpatterns = [
    *router.urls,
    path(
        "campaigns/<int:campaign_id>/touchpoints/",
        campaigns.CampaignTouchpointListView.as_view(),
        name="campaign-touchpoints",
    ),
]
