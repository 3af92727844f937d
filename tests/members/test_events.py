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
    old = Event.objects.create(
        member=member, kind="test.kind", occurred_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert events.events_redispatch_stale() == 1
    assert sent == [[old.pk]]
