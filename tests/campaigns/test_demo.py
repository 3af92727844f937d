"""The campaigns demo loaded by `make run`: a WeCom greeting that reaches the guides'
workspace through the real engine, and a draft repurchase campaign."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import Campaign, CampaignStatus, GuideTask
from tests.campaigns.helpers import run_all

pytestmark = pytest.mark.django_db


def test_the_demo_greeting_becomes_tasks_for_the_first_stores_guides(settings):
    settings.DEBUG = True
    settings.SCRM_QUIET_HOURS = []
    call_command("seed_demo", "--members", "200", "--no-progress")
    call_command("seed_campaigns_demo")
    greeting = Campaign.objects.get(name="会员日 · 导购问候")
    assert greeting.status == CampaignStatus.SCHEDULED
    assert Campaign.objects.get(name="沉睡会员唤醒").status == CampaignStatus.DRAFT

    from django.utils import timezone

    run_all(now=timezone.now())
    tasks = GuideTask.objects.select_related("guide__store", "member")
    assert tasks.exists()
    store = greeting.segment.tree["all"][0]["value"][0]
    assert {t.guide.store.code for t in tasks} == {store}
    task = tasks.first()
    assert task.text.startswith(f"{task.member.name}您好") and task.guide.name in task.text

    call_command("seed_campaigns_demo")  # once only
    assert Campaign.objects.count() == 2


def test_the_campaigns_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_campaigns_demo")
