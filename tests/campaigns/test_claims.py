"""Claims that write no index entry: a claimed touchpoint stays "pending" with claimed_at
stamped (a HOT update on PostgreSQL), the claims of dead workers are taken again by the due
scan itself, a late outcome never undoes what another worker settled, and a fan-out starts its
senders as soon as its first rows are committed."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.db import connection

from campaigns import tasks
from campaigns.channels import Outcome, Result
from campaigns.models import Run, RunStatus, SkipReason, Touchpoint, TouchpointState
from campaigns.services.campaigns import campaign_cancel, campaign_launch
from campaigns.services.dispatch import (
    dispatch_once,
    due_count,
    touchpoints_claim,
    touchpoints_reclaim_stale,
    touchpoints_send_now,
)
from campaigns.services.fanout import run_fan_out, runs_start_due
from tests.campaigns.test_engine import NOON, campaign, consenting

pytestmark = pytest.mark.django_db


def planned(n: int, **fields):
    """``n`` consenting members and a launched one-off campaign fanned out to them."""
    consenting(n)
    c = campaign_launch(campaign=campaign(send_at=NOON, **fields), now=NOON)
    (run,) = runs_start_due(now=NOON)
    assert run_fan_out(run=run)
    return c


def test_a_claim_keeps_the_row_pending_with_its_claim_stamped(channel):
    planned(3)
    ids, _position = touchpoints_claim(limit=10, now=NOON)
    assert len(ids) == 3
    rows = Touchpoint.objects.filter(pk__in=ids)
    assert {(t.state, t.claimed_at, t.attempts) for t in rows} == {
        (TouchpointState.PENDING, NOON, 1)
    }
    # Nobody else takes them, and a finishing sender sees nothing left to do.
    assert touchpoints_claim(limit=10, now=NOON + timedelta(seconds=30)) == ([], None)
    assert due_count(now=NOON + timedelta(seconds=30)) == 0
    assert touchpoints_send_now(ids=ids, now=NOON + timedelta(seconds=30)) == {}
    assert channel.sent == []


def test_a_dead_workers_claim_is_taken_again_by_the_next_scan_and_sent_once(channel, settings):
    planned(2)
    ids, _position = touchpoints_claim(limit=10, now=NOON)  # taken, then the worker dies
    timeout = timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT)
    assert dispatch_once(now=NOON + timeout - timedelta(seconds=1)) == 0
    later = NOON + timeout + timedelta(seconds=1)
    assert due_count(now=later) == 1
    # No sweep ran: the claim itself takes stale claims.
    assert dispatch_once(now=later) == 2
    assert dispatch_once(now=later) == 0
    assert sorted(m.key for m in channel.sent) == sorted(
        Touchpoint.objects.values_list("key", flat=True)
    )
    assert {(t.state, t.claimed_at, t.attempts) for t in Touchpoint.objects.all()} == {
        (TouchpointState.SENT, None, 2)
    }


def test_the_sweep_clears_only_stale_claims(channel, settings):
    planned(3)
    timeout = timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT)
    (stale,), _position = touchpoints_claim(limit=1, now=NOON)
    (fresh,), _position = touchpoints_claim(limit=1, now=NOON + timeout / 2)
    later = NOON + timeout + timedelta(seconds=1)
    assert touchpoints_reclaim_stale(now=later) == 1
    assert Touchpoint.objects.get(pk=stale).claimed_at is None
    assert Touchpoint.objects.get(pk=fresh).claimed_at == NOON + timeout / 2
    while dispatch_once(now=later):
        pass
    assert len(channel.sent) == 2  # the fresh claim is still its worker's
    assert Touchpoint.objects.filter(state=TouchpointState.SENT).count() == 2


def test_a_row_a_worker_of_the_older_release_left_sending_is_handed_back(channel, settings):
    planned(1)
    # Claimed the old way (state "sending") by a worker that ran on after the migration.
    Touchpoint.objects.update(state=TouchpointState.SENDING, claimed_at=NOON, attempts=1)
    later = NOON + timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT + 1)
    assert touchpoints_reclaim_stale(now=NOON) == 0  # not stale yet
    assert dispatch_once(now=later) == 0
    assert touchpoints_reclaim_stale(now=later) == 1
    assert dispatch_once(now=later) == 1
    assert len(channel.sent) == 1
    assert Touchpoint.objects.get().state == TouchpointState.SENT


def test_a_slow_workers_late_outcome_leaves_what_another_worker_sent(channel, settings):
    planned(1)
    later = NOON + timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT + 1)
    send = channel.send_batch
    calls = []

    def slow_then_busy(messages):
        if calls:
            return send(messages)
        calls.append(messages)
        # While this worker waits on the provider its claim goes stale: another one takes the
        # row and sends it; then the provider answers this worker "busy".
        assert dispatch_once(now=later) == 1
        return [Result(Outcome.RETRY, reason="busy")] * len(messages)

    channel.send_batch = slow_then_busy
    assert dispatch_once(now=NOON) == 1
    touchpoint = Touchpoint.objects.get()
    assert touchpoint.state == TouchpointState.SENT and touchpoint.error == ""
    assert dispatch_once(now=later + timedelta(hours=1)) == 0


def test_a_campaign_cancelled_mid_batch_stays_cancelled(channel):
    c = planned(1)
    send = channel.send_batch

    def cancelled_meanwhile(messages):
        campaign_cancel(campaign=c)
        return [Result(Outcome.RETRY, reason="busy")] * len(messages)

    channel.send_batch = cancelled_meanwhile
    dispatch_once(now=NOON)
    channel.send_batch = send
    touchpoint = Touchpoint.objects.get()
    assert (touchpoint.state, touchpoint.skip_reason) == (
        TouchpointState.SKIPPED,
        SkipReason.CAMPAIGN_STOPPED,
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="HOT updates are PostgreSQL's")
def test_on_postgresql_a_claim_writes_no_index_entry(channel):
    planned(5)
    with connection.cursor() as cursor:

        def updates():
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
                [Touchpoint._meta.db_table],
            )
            return cursor.fetchone()

        before = updates()
        ids, _position = touchpoints_claim(limit=10, now=NOON)
        after = updates()
    assert len(ids) == 5
    assert (after[0] - before[0], after[1] - before[1]) == (5, 5)


def test_a_fan_out_starts_senders_once_its_first_rows_are_in(channel):
    consenting(7)
    campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    (run,) = runs_start_due(now=NOON)
    seen = []

    def started():
        seen.append(Touchpoint.objects.count())

    assert run_fan_out(run=run, chunk=3, on_planned=started)
    assert seen == [3]  # after the first chunk, not at the end
    assert Touchpoint.objects.count() == 7


def test_the_fan_out_task_queues_senders_beside_it_and_one_when_it_ends(
    channel, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SCRM_DISPATCH_PARALLEL = 3
    consenting(4)
    campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    (run,) = runs_start_due(now=NOON)
    queued = []
    monkeypatch.setattr(tasks.dispatch, "delay", lambda: queued.append("dispatch"))
    monkeypatch.setattr(tasks.run_fan_out, "delay", lambda run_id: queued.append("fan-out"))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_fan_out(run.pk) is True
    assert queued == ["dispatch"] * 3  # 2 beside the fan-out, 1 for its own worker after
    assert Run.objects.get(pk=run.pk).status == RunStatus.SENDING


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL storage options")
def test_the_migration_leaves_room_in_the_outbox_pages_on_postgresql():
    # Tests build tables without migrations: run the migration's PostgreSQL step here.
    migration = importlib.import_module("campaigns.migrations.0006_touchpoint_hot_claims")
    with connection.schema_editor() as editor:
        migration.postgresql_set(None, editor)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reloptions, a.attcollation::regcollation::text FROM pg_class c"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'key'"
            " WHERE c.relname = %s",
            [Touchpoint._meta.db_table],
        )
        options, collation = cursor.fetchone()
    assert options == [f"fillfactor={migration.FILLFACTOR}"]
    assert collation == '"C"'
