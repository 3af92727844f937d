"""Routes of the delivery channels under /api/v1/: guide tasks, mini-program subscriptions,
the SMS reply callback."""

from django.urls import path

from campaigns.api import guide_tasks, sms_replies, subscriptions

urlpatterns = [
    path("guide-tasks/", guide_tasks.GuideTaskListView.as_view(), name="guide-task-list"),
    path(
        "guide-tasks/<int:task_id>/confirm/",
        guide_tasks.GuideTaskConfirmView.as_view(),
        name="guide-task-confirm",
    ),
    path(
        "me/subscriptions/",
        subscriptions.MeSubscriptionsView.as_view(),
        name="me-subscriptions",
    ),
    path(
        "sms/replies/<str:token>/",
        sms_replies.SmsReplyCallbackView.as_view(),
        name="sms-replies",
    ),
]
