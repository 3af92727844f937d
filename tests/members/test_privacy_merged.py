"""Erasure and the data copy reach what other apps keep under records merged into the member:
hooks get the merged records' ids (hook(member, *, merged_ids)), and one-argument hooks are
called for each merged record too. The campaigns app's own hooks are checked at the end: a
guide task text and an SMS reply left on a merged record do not survive the erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from members.choices import MemberStatus
from members.services import privacy
from members.services.members import member_merge
from members.services.privacy import member_data_copy, member_erase
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    """One person as three records: the survivor, and two records merged into it (one of
    them through an earlier merge)."""
    survivor = factories.MemberFactory(name="王小美")
    first = factories.MemberFactory(name="小美")
    second = factories.MemberFactory(name="Wang")
    member_merge(survivor=first, merged=second)
    member_merge(survivor=survivor, merged=first)
    return survivor, [first, second]


@pytest.fixture
def no_hooks(monkeypatch):
    monkeypatch.setattr(privacy, "_erase_hooks", [])
    monkeypatch.setattr(privacy, "_data_copy_hooks", [])


def test_erase_hooks_get_the_ids_merged_into_the_member(person, no_hooks):
    survivor, merged = person
    calls = []

    def hook(member, *, merged_ids):
        calls.append((member.pk, sorted(merged_ids)))
        return {"rows": 1 + len(merged_ids)}

    privacy.member_erase_hook_register(hook)
    counts = member_erase(member=survivor)
    assert calls == [(survivor.pk, sorted(m.pk for m in merged))]
    assert counts["rows"] == 3


def test_one_argument_hooks_run_for_each_merged_record_and_counts_add_up(person, no_hooks):
    survivor, merged = person
    seen = []

    def hook(member):
        seen.append((member.pk, member.status))
        return {"rows": 2}

    privacy.member_erase_hook_register(hook)
    counts = member_erase(member=survivor)
    assert seen == [
        (survivor.pk, MemberStatus.ACTIVE),
        *sorted((m.pk, MemberStatus.MERGED) for m in merged),
    ]
    assert counts["rows"] == 6


def test_data_copy_hooks_cover_the_merged_records(person, no_hooks):
    survivor, merged = person
    privacy.member_data_copy_hook_register(lambda member: {"groups": [f"group of {member.pk}"]})
    privacy.member_data_copy_hook_register(
        lambda member, *, merged_ids: {"all": sorted([member.pk, *merged_ids])}
    )
    copy = member_data_copy(member=survivor)
    assert copy["groups"] == [f"group of {survivor.pk}"]
    assert {r["id"]: r["groups"] for r in copy["merged_records"]} == {
        m.pk: [f"group of {m.pk}"] for m in merged
    }
    assert copy["all"] == sorted([survivor.pk, *(m.pk for m in merged)])


# --- the campaigns app's hooks, as registered at start-up --------------------------------------


def test_guide_tasks_and_sms_replies_of_a_merged_record_are_erased(person):
    from campaigns.models import GuideTask, SmsReply

    survivor, merged = person
    tombstone = merged[1]
    guide = factories.GuideFactory()
    replies = [
        SmsReply.objects.create(reply_id=f"r-{m.pk}", phone="+8613900001111", content="TD 王小美")
        for m in (survivor, tombstone)
    ]
    SmsReply.objects.filter(pk=replies[0].pk).update(member=survivor)
    SmsReply.objects.filter(pk=replies[1].pk).update(member=tombstone)
    task = _guide_task(guide=guide, member=tombstone, text="王小美，您的会员日礼券到了")

    # The campaign engine's sections cover the person, merged records included.
    copy = member_data_copy(member=survivor)
    assert [t["message"] for t in copy["guide_tasks"]] == [task.text]
    assert [r["reply"] for r in copy["sms_replies"]] == ["TD 王小美", "TD 王小美"]

    counts = member_erase(member=survivor)
    assert counts["sms_replies"] == 2
    assert counts["guide_tasks"] == 1
    assert not SmsReply.objects.exists()
    assert not GuideTask.objects.exists()


def _guide_task(*, guide, member, text):
    """A guide task as the WeCom channel leaves it, on a touchpoint of a one-off campaign."""
    from campaigns.models import GuideTask, Touchpoint
    from tests.campaigns.helpers import campaign_on, launch, members_with_consent, run_all

    (contact,) = members_with_consent(1, "wecom", guide=guide, wecom_external_userid="wm-x")
    launch(campaign_on("wecom", body="{{ member_name }}"))
    run_all()
    made = GuideTask.objects.get(member=contact)
    # As if the task had been made before its member was merged away: it points at the record.
    Touchpoint.objects.filter(pk=made.touchpoint_id).update(member=member)
    GuideTask.objects.filter(pk=made.pk).update(
        member=member, text=text, expires_at=timezone.now() + timedelta(days=1)
    )
    return GuideTask.objects.get(pk=made.pk)
