"""Routes of the members API under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from members.api.views import (
    benefits,
    me,
    member_history,
    members,
    orders,
    privacy,
    segments,
    tags,
)

router = SimpleRouter()
router.register("members", members.MemberViewSet, basename="member")
router.register("tag-groups", tags.TagGroupViewSet, basename="tag-group")
router.register("tags", tags.TagViewSet, basename="tag")
router.register("orders", orders.OrderViewSet, basename="order")
router.register("segments", segments.SegmentViewSet, basename="segment")
router.register("coupon-templates", benefits.CouponTemplateViewSet, basename="coupon-template")

member_paths = [
    ("timeline", member_history.MemberTimelineView),
    ("orders", member_history.MemberOrdersView),
    ("points", member_history.MemberPointsView),
    ("coupons", member_history.MemberCouponsView),
    ("consent", member_history.MemberConsentView),
    ("erase", privacy.MemberEraseView),
    ("data", privacy.MemberDataView),
]

urlpatterns = [
    *router.urls,
    *(
        path(f"members/<int:member_id>/{name}/", view.as_view(), name=f"member-{name}")
        for name, view in member_paths
    ),
    path("coupons/redeem/", benefits.CouponRedeemView.as_view(), name="coupon-redeem"),
    path("auth/wechat/", me.WeChatLoginView.as_view(), name="auth-wechat"),
    path("me/", me.MeView.as_view(), name="me"),
    path("me/points/", me.MePointsView.as_view(), name="me-points"),
    path("me/coupons/", me.MeCouponsView.as_view(), name="me-coupons"),
    path("me/orders/", me.MeOrdersView.as_view(), name="me-orders"),
    path("me/consent/", me.MeConsentView.as_view(), name="me-consent"),
    path("me/data/", privacy.MeDataView.as_view(), name="me-data"),
    path("me/erase/", privacy.MeEraseView.as_view(), name="me-erase"),
]
