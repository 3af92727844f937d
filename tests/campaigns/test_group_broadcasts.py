"""Group broadcasts (群发到客户群) kept by the groups app go out through the campaign engine's
WeCom customer-group channel: one WeCom task per group owner, each delivery once."""

from __future__ import annotations

import pytest
from django.utils import translation

from groups.choices import DeliveryStatus
from groups.models import BroadcastDelivery, CommunityGroup
from groups.services.broadcasts import broadcasts_dispatch, group_broadcast_create
from tests import factories
from tests.campaigns.test_channels_wecom import wecom  # noqa: F401  (the fake WeCom fixture)

pytestmark = pytest.mark.django_db


def _groups():
    zhang = factories.GuideFactory(wecom_userid="zhangsan")
    li = factories.GuideFactory(wecom_userid="lisi")
    for owner, chat in ((zhang, "wrA"), (zhang, "wrB"), (li, "wrC")):
        factories.CommunityGroupFactory(owner=owner, wecom_chat_id=chat)
    return CommunityGroup.objects.all()


def test_a_broadcast_becomes_one_wecom_task_per_owner_sent_once(wecom):  # noqa: F811
    group_broadcast_create(text="周六快闪，群内专享价", groups=_groups())
    assert broadcasts_dispatch()["sent"] == 2
    assert broadcasts_dispatch()["sent"] == 0  # nothing is sent twice
    created = sorted((b["sender"], b["chat_id_list"], b["text"]["content"]) for b in wecom.created)
    assert created == [
        ("lisi", ["wrC"], "周六快闪，群内专享价"),
        ("zhangsan", ["wrA", "wrB"], "周六快闪，群内专享价"),
    ]
    assert set(BroadcastDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_without_wecom_configured_deliveries_fail_with_the_reason():
    group_broadcast_create(text="群公告", groups=_groups())
    with translation.override("en"):
        counts = broadcasts_dispatch()
    assert counts["failed"] == 2
    assert all("not configured" in d.error for d in BroadcastDelivery.objects.all())
