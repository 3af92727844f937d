"""Races between handlers and tree writers, on PostgreSQL with real threads and row locks.

- A refund handled while the paid handler of the same order is still paying its rewards: the
  order row is locked by both, so the refund either is seen by the paid handler or comes after
  its rewards and claws them back. No reward stays paid on a refunded order.
- The same when the order being refunded is the referee's earliest (qualifying) order and the
  paid handler is that of a later order.
- A subtree moved (a merge) while a friend is attached under it, in either order: the new node
  gets the moved path and every count stays true.

SQLite runs one writing transaction at a time (IMMEDIATE), so these cannot interleave there.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from members.models import Member, Order
from members.services.orders import order_refund
from referrals import selectors
from referrals.choices import ReferralStatus, RewardKind, RewardStatus
from referrals.models import Referral, ReferralNode, Reward
from referrals.services import abuse, attach, tree
from referrals.services.orders import referral_order_paid, referral_order_refunded

PAUSE = 0.6


@pytest.fixture(autouse=True)
def _postgresql_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent transactions and row locks (SQLite serialises writers)")


def _run_together(first, second) -> list[BaseException]:
    """Start ``first``; ``second`` starts when ``first`` signals (or after a timeout) and both
    run to the end, each on its own connection."""
    errors: list[BaseException] = []

    def run(target):
        try:
            target()
        except BaseException as exc:  # re-raised by the test through ``errors``
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def _pause_in(monkeypatch, target: str, original, signal: threading.Event):
    """Make ``target`` (a function as the module under test sees it) signal, then sleep, then
    do its work: the transaction around it stays open meanwhile."""

    def paused(*args, **kwargs):
        signal.set()
        time.sleep(PAUSE)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, paused)


def _refund_and_handle(order_pk: int, after: threading.Event):
    def run():
        after.wait(10)
        order_refund(order=Order.objects.get(pk=order_pk))
        referral_order_refunded(order_id=order_pk)

    return run


def _unclawed(order) -> list[str]:
    return list(
        Reward.objects.filter(
            order=order, status__in=[RewardStatus.GRANTED, RewardStatus.HELD]
        ).values_list("key", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_refund_racing_the_paid_handler_leaves_no_reward_unclawed(
    make_member, refer, pay, programme, monkeypatch
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    order = pay(friend, "200", run=False)
    inside = threading.Event()
    # The paid handler has read the order and is qualifying the referral on it.
    _pause_in(
        monkeypatch,
        "referrals.services.rewards.fingerprints_record",
        abuse.fingerprints_record,
        inside,
    )
    errors = _run_together(
        lambda: referral_order_paid(order_id=order.pk), _refund_and_handle(order.pk, inside)
    )
    assert not errors, errors
    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert _unclawed(order) == []
    assert Referral.objects.get(referee=friend).status == ReferralStatus.REFUNDED
    assert Member.objects.get(pk=referrer.pk).points_balance == 0


@pytest.mark.django_db(transaction=True)
def test_refunding_the_qualifying_order_while_a_later_order_qualifies_on_it(
    make_member, refer, pay, programme, monkeypatch
):
    referrer, friend = make_member(), make_member()
    refer(friend, referrer)
    first = pay(friend, "200", run=False)
    later = pay(friend, "150", run=False)
    inside = threading.Event()
    _pause_in(
        monkeypatch,
        "referrals.services.rewards.fingerprints_record",
        abuse.fingerprints_record,
        inside,
    )
    errors = _run_together(
        lambda: referral_order_paid(order_id=later.pk), _refund_and_handle(first.pk, inside)
    )
    assert not errors, errors
    # The rewards hung on the earliest order were clawed back with its refund, and the
    # referral never qualifies again; the later order is a real purchase: its commission stays.
    assert _unclawed(first) == []
    assert Referral.objects.get(referee=friend).status == ReferralStatus.REFUNDED
    assert _unclawed(later) == [f"{RewardKind.COMMISSION_1}:{later.pk}"]
    assert Member.objects.get(pk=referrer.pk).points_balance == 15


def _check_tree():
    for node in ReferralNode.objects.all():
        assert node.downline_count == selectors.downline_count(node), node
        assert node.direct_count == ReferralNode.objects.filter(parent=node.member).count(), node
        assert node.depth == len(node.ancestor_ids), node
        assert node.parent_id == (node.ancestor_ids[-1] if node.ancestor_ids else None), node


def _move(member_pk: int, under_pk: int):
    with transaction.atomic():
        tree.subtree_move(
            ReferralNode.objects.get(pk=member_pk), ReferralNode.objects.get(pk=under_pk)
        )


@pytest.mark.django_db(transaction=True)
def test_a_friend_attached_under_a_subtree_that_is_being_moved(make_member, refer, monkeypatch):
    """The attach got in first and is still open when the move starts: the move waits for it
    and rewrites the new node's path too."""
    top, invitee, new_parent, friend = (make_member() for _ in range(4))
    refer(invitee, top)
    with transaction.atomic():
        tree.node_root_ensure(new_parent.pk)
    inside = threading.Event()
    # After the node is inserted, before the attach commits.
    _pause_in(
        monkeypatch,
        "referrals.services.attach.fingerprints_record",
        attach.fingerprints_record,
        inside,
    )

    def move():
        inside.wait(10)
        _move(top.pk, new_parent.pk)

    errors = _run_together(lambda: refer(friend, invitee), move)
    assert not errors, errors
    path = ReferralNode.objects.get(pk=friend.pk).path
    assert path == f"/{new_parent.pk}/{top.pk}/{invitee.pk}/{friend.pk}/"
    assert ReferralNode.objects.get(pk=new_parent.pk).downline_count == 3
    _check_tree()


@pytest.mark.django_db(transaction=True)
def test_an_attach_under_a_subtree_waits_for_its_move(make_member, refer, monkeypatch):
    """The move got in first: the attach waits for it and reads the moved path."""
    top, invitee, new_parent, friend = (make_member() for _ in range(4))
    refer(invitee, top)
    with transaction.atomic():
        tree.node_root_ensure(new_parent.pk)
    inside = threading.Event()
    # The move holds its locks and is about to rewrite the paths.
    _pause_in(monkeypatch, "referrals.services.tree._rewrite", tree._rewrite, inside)

    def attach_friend():
        inside.wait(10)
        refer(friend, invitee)

    errors = _run_together(lambda: _move(top.pk, new_parent.pk), attach_friend)
    assert not errors, errors
    path = ReferralNode.objects.get(pk=friend.pk).path
    assert path == f"/{new_parent.pk}/{top.pk}/{invitee.pk}/{friend.pk}/"
    assert ReferralNode.objects.get(pk=new_parent.pk).downline_count == 3
    _check_tree()
