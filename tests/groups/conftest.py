"""Fixtures for the groups tests: stores, guides and members, join codes with small pools,
orders paid through the members' services, and API clients for each kind of caller."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from groups.services.seats import group_members_add
from members.api.auth import member_token_issue
from members.models import Member
from members.services.orders import order_upsert
from tests import factories

_orders = count(1)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Events committed by transactional tests are not published to the checkout's broker
    folder (a later `make run` worker would take them)."""
    monkeypatch.setattr("members.tasks.events_dispatch.delay", lambda ids: None)
    monkeypatch.setattr("groups.tasks.layering_run.delay", lambda run_id: None)
    monkeypatch.setattr("groups.tasks.broadcasts_dispatch.delay", lambda: None)


@pytest.fixture
def other_guide(other_store):
    return factories.GuideFactory(store=other_store)


@pytest.fixture
def make_member(store):
    def make(**kwargs):
        kwargs.setdefault("home_store", store)
        return factories.MemberFactory(**kwargs)

    return make


@pytest.fixture
def make_code(store):
    def make(**kwargs):
        kwargs.setdefault("store", store)
        return factories.JoinCodeFactory(**kwargs)

    return make


@pytest.fixture
def make_group(store):
    def make(**kwargs):
        kwargs.setdefault("store", store)
        return factories.CommunityGroupFactory(**kwargs)

    return make


@pytest.fixture
def seat():
    """Invite members into a group through the service (counter and events included)."""

    def seat(group, *members, now=None):
        ids = [m.pk for m in members]
        group_members_add(group=group, members=Member.objects.filter(pk__in=ids), now=now)
        group.refresh_from_db()
        return group

    return seat


@pytest.fixture
def pay():
    """Pay an order for a member through members' order_upsert."""

    def pay(member, amount="199.00", *, paid_at=None):
        order, _created = order_upsert(
            source="pos",
            external_id=f"G{next(_orders):06d}",
            member=member,
            paid_amount=Decimal(str(amount)),
            paid_at=paid_at or timezone.now(),
        )
        return order

    return pay


@pytest.fixture
def member_client():
    def make(member):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Member {member_token_issue(member=member)}")
        return client

    return make
