"""The event log: handlers registered by apps run after commit, once."""

from collections import defaultdict

import pytest

from members import events
from members.events import event_handler_register, event_record, events_dispatch_now
from members.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(events, "_handlers", defaultdict(list))
    event_handler_register("test.kind", lambda event: calls.append(event.pk))
    return calls


def test_unlistened_events_are_marked_dispatched_at_once():
    event = event_record(member=factories.MemberFactory(), kind="nobody.listens")
    assert event.dispatched_at is not None


def test_listened_event_is_enqueued_after_commit_and_runs_once(
    handler_calls, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("members.tasks.events_dispatch.delay", lambda ids: sent.append(ids))
    with django_capture_on_commit_callbacks(execute=True):
        event = event_record(member=factories.MemberFactory(), kind="test.kind", data={"a": 1})
    assert sent == [[event.pk]]
    assert events_dispatch_now(event_ids=[event.pk]) == 1
    assert events_dispatch_now(event_ids=[event.pk]) == 0  # a redelivered task does nothing
    assert handler_calls == [event.pk]
    assert Event.objects.get(pk=event.pk).dispatched_at is not None


def test_stale_undispatched_events_are_re_enqueued(
    handler_calls, django_capture_on_commit_callbacks, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    sent = []
    monkeypatch.setattr("members.tasks.events_dispatch.delay", lambda ids: sent.append(ids))
    member = factories.MemberFactory()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    old = Event.objects.create(
        member=member, kind="test.kind", occurred_at=an_hour_ago, recorded_at=an_hour_ago
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert events.events_redispatch_stale() == 1
    assert sent == [[old.pk]]


def test_a_new_event_about_the_past_is_not_sent_again_at_once(
    handler_calls, django_capture_on_commit_callbacks, monkeypatch
):
    """An order paid last week and pushed now: its event occurred last week but was written
    now, and its own message is on the way; the sweep goes by when the row was written."""
    from datetime import timedelta

    from django.utils import timezone

    sent = []
    monkeypatch.setattr("members.tasks.events_dispatch.delay", lambda ids: sent.append(ids))
    with django_capture_on_commit_callbacks(execute=True):
        event = event_record(
            member=factories.MemberFactory(),
            kind="test.kind",
            occurred_at=timezone.now() - timedelta(days=7),
        )
    assert sent == [[event.pk]]
    with django_capture_on_commit_callbacks(execute=True):
        assert events.events_redispatch_stale() == 0
    assert sent == [[event.pk]]


def test_events_written_by_raw_sql_get_their_recorded_time_from_the_database():
    from django.db import connection
    from django.utils import timezone

    member = factories.MemberFactory()
    before = timezone.now().replace(microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Event._meta.db_table} (member_id, kind, data, occurred_at)"
            " VALUES (%s, %s, %s, %s)",
            [member.pk, "raw.kind", "{}", timezone.now()],
        )
    event = Event.objects.get(kind="raw.kind")
    assert event.recorded_at >= before
