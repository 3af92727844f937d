"""Fixtures for the referrals tests: a programme, members who sign up through codes, orders
paid and refunded through the members' services with their events dispatched for real."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from members.api.auth import member_token_issue
from members.events import events_dispatch_now
from members.models import Event
from members.services.orders import order_refund, order_upsert
from referrals.models import Programme
from referrals.services.attach import referral_attach
from referrals.services.codes import referral_code_for_guide, referral_code_for_member
from tests import factories

_orders = count(1)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Events committed by transactional tests are dispatched by the tests themselves; nothing
    is published to the checkout's broker folder (a later `make run` worker would take them)."""
    monkeypatch.setattr("members.tasks.events_dispatch.delay", lambda ids: None)


@pytest.fixture
def programme(db):
    """The active programme: 100 points to the referrer and 50 to the new buyer on a first order
    of at least 100 within 30 days; commission 10 % and 5 % on two levels."""
    return Programme.objects.create(
        name="荐新有礼",
        is_active=True,
        poster_title="邀请好友",
        min_order_amount=Decimal("100"),
        qualify_within_days=30,
        referrer_points=100,
        referee_points=50,
        commission_level1_percent=Decimal("10"),
        commission_level2_percent=Decimal("5"),
    )


@pytest.fixture
def make_member(store):
    def make(**kwargs):
        kwargs.setdefault("home_store", store)
        return factories.MemberFactory(**kwargs)

    return make


def dispatch() -> int:
    """Run the handlers of every undispatched event, as the Celery worker would."""
    ids = list(Event.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True))
    return events_dispatch_now(event_ids=ids)


@pytest.fixture
def pay():
    """Pay an order for a member through members' order_upsert and dispatch its event."""

    def pay(member, amount="199.00", *, paid_at=None, run=True, external_id=None):
        order, _created = order_upsert(
            source="pos",
            external_id=external_id or f"R{next(_orders):06d}",
            member=member,
            paid_amount=Decimal(str(amount)),
            paid_at=paid_at or timezone.now(),
        )
        if run:
            dispatch()
        return order

    return pay


@pytest.fixture
def refund():
    def refund(order, *, run=True):
        order = order_refund(order=order)
        if run:
            dispatch()
        return order

    return refund


@pytest.fixture
def refer():
    """Attach ``member`` under ``referrer`` (a member or a guide) through the referrer's code."""

    def refer(member, referrer, **kwargs):
        if isinstance(referrer, factories.models.Guide):
            code = referral_code_for_guide(guide=referrer)
        else:
            code = referral_code_for_member(member=referrer)
        return referral_attach(member=member, code=code.code, **kwargs)

    return refer


@pytest.fixture
def chain(make_member, refer):
    """Build a chain root -> m1 -> m2 ... of ``n`` members; returns the list, root first."""

    def chain(n):
        members = [make_member()]
        for _ in range(n - 1):
            member = make_member()
            refer(member, members[-1])
            members.append(member)
        return members

    return chain


@pytest.fixture
def member_client():
    def make(member):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Member {member_token_issue(member=member)}")
        return client

    return make
