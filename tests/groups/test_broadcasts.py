"""Group broadcasts: one outbox row per group owner, handed to the sender the campaign engine
registers; sent once, retried with backoff, failures kept with their reason. Groups that
cannot be sent to are named, never silently dropped."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from groups.choices import DeliveryStatus
from groups.models import BroadcastDelivery, CommunityGroup
from groups.services import broadcasts
from groups.services.broadcasts import (
    BroadcastResult,
    broadcasts_dispatch,
    group_broadcast_create,
)
from groups.services.groups import group_dissolve
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """A fake sender registered as the campaign engine would; returns the calls it got."""
    calls = []
    outcomes = {}

    def sender(messages):
        calls.append(messages)
        return [
            outcomes.get(m.sender, BroadcastResult("sent", provider_id="msg-1")) for m in messages
        ]

    monkeypatch.setattr(broadcasts, "_senders", [sender])
    sender.outcomes = outcomes
    sender.calls = calls
    return sender


@pytest.fixture
def owners(store):
    return [factories.GuideFactory(store=store, wecom_userid=f"wx{n}") for n in range(2)]


@pytest.fixture
def groups(make_group, owners):
    a, b = owners
    return [
        make_group(owner=a, wecom_chat_id="chat-a1"),
        make_group(owner=a, wecom_chat_id="chat-a2"),
        make_group(owner=b, wecom_chat_id="chat-b1"),
        make_group(owner=b),  # not created in WeCom yet
    ]


def _all():
    return CommunityGroup.objects.all()


def test_one_delivery_per_owner_with_their_chat_ids(groups, owners):
    broadcast = group_broadcast_create(text="今晚8点直播，群内专享券", groups=_all())
    rows = {d.sender: d.chat_ids for d in broadcast.deliveries.all()}
    assert rows == {"wx0": ["chat-a1", "chat-a2"], "wx1": ["chat-b1"]}
    assert broadcast.skipped == [{"group_id": groups[3].pk, "reason": "no_chat_id"}]


def test_sent_once_through_the_registered_sender(groups, sent):
    group_broadcast_create(text="周年庆", groups=_all())
    assert broadcasts_dispatch() == {"sent": 2, "retry": 0, "failed": 0}
    assert broadcasts_dispatch() == {"sent": 0, "retry": 0, "failed": 0}
    assert len(sent.calls) == 1
    assert {m.text for m in sent.calls[0]} == {"周年庆"}
    assert set(BroadcastDelivery.objects.values_list("status", "provider_id")) == {
        (DeliveryStatus.SENT, "msg-1")
    }


def test_retries_back_off_then_fail_with_the_reason(groups, sent, owners):
    sent.outcomes["wx1"] = BroadcastResult("retry", reason="WeCom busy")
    group_broadcast_create(text="新品到店", groups=_all())
    now = timezone.now()
    assert broadcasts_dispatch(now=now)["retry"] == 1
    row = BroadcastDelivery.objects.get(sender="wx1")
    assert (row.status, row.error) == (DeliveryStatus.PENDING, "WeCom busy")
    assert broadcasts_dispatch(now=now + timedelta(seconds=30))["retry"] == 0  # backing off
    later = now
    for _attempt in range(4):
        later += timedelta(hours=1)
        broadcasts_dispatch(now=later)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 5)


def test_a_refusal_fails_at_once(groups, sent):
    sent.outcomes["wx0"] = BroadcastResult("failed", reason="no permission")
    group_broadcast_create(text="x", groups=_all())
    assert broadcasts_dispatch()["failed"] == 1
    assert BroadcastDelivery.objects.get(sender="wx0").error == "no permission"


def test_without_a_sender_deliveries_wait(groups, monkeypatch):
    monkeypatch.setattr(broadcasts, "_senders", [])
    group_broadcast_create(text="x", groups=_all())
    assert broadcasts_dispatch() == {"sent": 0, "retry": 0, "failed": 0}
    assert set(BroadcastDelivery.objects.values_list("status", flat=True)) == {"pending"}


def test_a_claim_left_by_a_dead_worker_is_taken_again(groups, sent):
    group_broadcast_create(text="x", groups=_all())
    now = timezone.now()
    BroadcastDelivery.objects.update(status=DeliveryStatus.SENDING, claimed_at=now, claim="dead")
    assert broadcasts_dispatch(now=now)["sent"] == 0
    assert broadcasts_dispatch(now=now + timedelta(minutes=6))["sent"] == 2


def test_groups_that_cannot_be_sent_to_are_refused_and_nothing_is_written(make_group, guide):
    dissolved = make_group(owner=guide, wecom_chat_id="c1")
    group_dissolve(group=dissolved)
    make_group(wecom_chat_id="c2")  # no owner
    with pytest.raises(ValidationError) as exc:
        group_broadcast_create(text="x", groups=_all())
    assert "groups" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        group_broadcast_create(text="字" * 1400, groups=_all())
    assert "text" in exc.value.message_dict
    assert not BroadcastDelivery.objects.exists()


def test_broadcast_api_for_operators_and_guides(staff_client, operator, groups, other_store):
    api = staff_client(operator)
    ids = [g.pk for g in groups]
    created = api.post(
        "/api/v1/group-broadcasts/", {"text": "会员日", "groups": ids}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert len(body["deliveries"]) == 2 and body["skipped"][0]["reason"] == "no_chat_id"
    assert api.get(f"/api/v1/group-broadcasts/{body['id']}/").json()["text"] == "会员日"
    guide = factories.GuideFactory(store=other_store)
    response = staff_client(guide.user).post(
        "/api/v1/group-broadcasts/", {"text": "x", "groups": ids}, format="json"
    )
    assert response.status_code == 400  # not their store's groups
    assert (
        staff_client(guide.user).get(f"/api/v1/group-broadcasts/{body['id']}/").status_code == 404
    )
