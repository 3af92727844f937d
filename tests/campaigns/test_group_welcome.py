"""A member who joins a community group by its join code gets the group's welcome message
at once, naming the group they were seated in."""

from __future__ import annotations

import pytest

from campaigns.models import Touchpoint, TouchpointState
from groups.services.seats import group_join_by_code
from members.events import events_dispatch_now
from members.models import Event
from tests import factories
from tests.campaigns.helpers import NOON, members_with_consent
from tests.campaigns.test_triggers import journey, priority_sends  # noqa: F401

pytestmark = pytest.mark.django_db


def test_joining_by_code_sends_the_welcome_naming_the_group(
    channel,
    priority_sends,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    code = factories.JoinCodeFactory()
    (member,) = members_with_consent(1, "sms")
    journey(
        entry_match={"code_id": code.pk},
        steps=[{"contents": {"A": {"body": "欢迎加入{{ group_name }}，{{ member_name }}"}}}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        membership, joined = group_join_by_code(member=member, code=code, now=NOON)
    assert joined
    event = Event.objects.get(kind="group.joined", member=member)
    with django_capture_on_commit_callbacks(execute=True):
        events_dispatch_now(event_ids=[event.pk])
    assert [m.body for m in channel.sent] == [f"欢迎加入{membership.group.name}，{member.name}"]

    # Scanning the code again gives the same seat and no second welcome.
    with django_capture_on_commit_callbacks(execute=True):
        again, joined_again = group_join_by_code(member=member, code=code, now=NOON)
    assert (again.pk, joined_again) == (membership.pk, False)
    assert Touchpoint.objects.filter(state=TouchpointState.SENT).count() == 1
