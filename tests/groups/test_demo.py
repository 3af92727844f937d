"""The groups demo loaded by `make run` goes through the real services."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from groups.choices import GroupStatus
from groups.models import CommunityGroup, GroupMembership, LayeringRun
from members.models import Event

pytestmark = pytest.mark.django_db


def test_groups_demo_on_top_of_the_members_demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--members", "300", "--no-progress")
    call_command("seed_groups_demo")
    assert CommunityGroup.objects.filter(join_code__isnull=False, purpose="service").count() >= 2
    for group in CommunityGroup.objects.exclude(status=GroupStatus.DISSOLVED):
        current = GroupMembership.objects.filter(group=group, left_at__isnull=True).count()
        assert current == group.member_count <= group.capacity
    dissolved = CommunityGroup.objects.get(status=GroupStatus.DISSOLVED)
    assert dissolved.sales_orders > 0
    assert LayeringRun.objects.get().preview[0]["matched"] >= 0
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    groups = CommunityGroup.objects.count()
    call_command("seed_groups_demo")  # once only
    assert CommunityGroup.objects.count() == groups


def test_groups_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_groups_demo")
