"""Routes of the groups API under /api/v1/ (included from scrm.api.urls)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from groups.api.views import broadcasts, codes, layering, me, staff

router = SimpleRouter()
router.register("groups", staff.GroupViewSet, basename="group")
router.register("group-codes", codes.JoinCodeViewSet, basename="group-code")
router.register("group-broadcasts", broadcasts.GroupBroadcastViewSet, basename="group-broadcast")

urlpatterns = [
    *router.urls,
    path("group-codes/<int:pk>/qr.png", codes.JoinCodePngView.as_view(), name="group-code-qr-png"),
    path("group-codes/<int:pk>/qr.svg", codes.JoinCodeSvgView.as_view(), name="group-code-qr-svg"),
    path(
        "group-layering/rules/", layering.LayeringRulesView.as_view(), name="group-layering-rules"
    ),
    path(
        "group-layering/preview/",
        layering.LayeringPreviewView.as_view(),
        name="group-layering-preview",
    ),
    path(
        "group-layering/runs/<int:run_id>/",
        layering.LayeringRunView.as_view(),
        name="group-layering-run",
    ),
    path(
        "group-layering/runs/<int:run_id>/apply/",
        layering.LayeringApplyView.as_view(),
        name="group-layering-apply",
    ),
    path("me/groups/", me.MyGroupsView.as_view(), name="me-groups"),
    path("me/groups/join/", me.JoinView.as_view(), name="me-groups-join"),
    path("me/groups/<int:group_id>/leave/", me.LeaveView.as_view(), name="me-groups-leave"),
]
