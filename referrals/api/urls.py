"""Routes of the referrals API under /api/v1/ (included from scrm.api.urls)."""

from django.urls import path

from referrals.api.views import me, signup, staff

urlpatterns = [
    path("referrals/signup/", signup.SignupView.as_view(), name="referral-signup"),
    path("me/referral/", me.MyReferralView.as_view(), name="me-referral"),
    path("me/referral/poster.png", me.MyPosterView.as_view(), name="me-referral-poster"),
    path("me/referral/bind/", me.BindView.as_view(), name="me-referral-bind"),
    path("me/referral/invitees/", me.MyInviteesView.as_view(), name="me-referral-invitees"),
    path("me/referral/rewards/", me.MyRewardsView.as_view(), name="me-referral-rewards"),
    path("me/fission-tasks/", me.MyFissionTasksView.as_view(), name="me-fission-tasks"),
    path(
        "me/fission-tasks/<int:task_id>/leaderboard/",
        me.FissionLeaderboardView.as_view(),
        name="me-fission-leaderboard",
    ),
    path(
        "referrals/members/<int:member_id>/",
        staff.NodeSummaryView.as_view(),
        name="referral-member",
    ),
    path(
        "referrals/members/<int:member_id>/upline/",
        staff.UplineView.as_view(),
        name="referral-upline",
    ),
    path(
        "referrals/members/<int:member_id>/downline/",
        staff.DownlineView.as_view(),
        name="referral-downline",
    ),
    path(
        "referrals/members/<int:member_id>/downline/<int:level>/",
        staff.DownlineLevelView.as_view(),
        name="referral-downline-level",
    ),
    path("referrals/attach/", staff.AttachView.as_view(), name="referral-attach"),
    path("referrals/guide/code/", staff.GuideCodeView.as_view(), name="referral-guide-code"),
    path(
        "referrals/guide/poster.png",
        staff.GuidePosterView.as_view(),
        name="referral-guide-poster",
    ),
    path(
        "referrals/programmes/<int:programme_id>/metrics/",
        staff.ProgrammeMetricsView.as_view(),
        name="referral-programme-metrics",
    ),
    path(
        "referrals/fission-tasks/<int:task_id>/leaderboard/",
        staff.StaffLeaderboardView.as_view(),
        name="referral-fission-leaderboard",
    ),
]
