"""What the channel tests share: a time outside quiet hours, members with consent, a campaign
on a channel, and the tick-and-workers loop of test_engine.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_create, campaign_launch
from campaigns.services.dispatch import dispatch_once
from campaigns.services.fanout import run_fan_out, runs_finish, runs_start_due
from members.models import Member
from members.services.members import consent_set
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai: outside quiet hours.
NOON = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)


def members_with_consent(n: int, consent: str, **values) -> list[Member]:
    members = factories.MemberFactory.create_batch(n, **values)
    for member in members:
        consent_set(member=member, channel=consent, granted=True)
    return members


def campaign_on(channel: str, *, body="Hi {{ member_name }}", subject="", options=None, **fields):
    """A draft one-off campaign on ``channel`` with one message."""
    fields.setdefault("kind", "one_off")
    fields.setdefault("send_at", NOON)
    content = {"body": body, "subject": subject, "options": options or {}}
    return campaign_create(
        name="Member day", channel=channel, steps=[{"contents": {"A": content}}], **fields
    )


def launch(campaign: Campaign) -> Campaign:
    return campaign_launch(campaign=campaign, now=NOON - timedelta(hours=1))


def run_all(now=NOON) -> None:
    """What the tick and the workers do, synchronously, until nothing is due."""
    for run in runs_start_due(now=now):
        assert run_fan_out(run=run)
    while dispatch_once(now=now):
        pass
    runs_finish(now=now)
