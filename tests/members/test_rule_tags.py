"""Rule tags: the beat job tags members who match and untags those the rule tagged who no
longer do, set-based, leaving tags put on by hand alone."""

import pytest
from django.core.exceptions import ValidationError

from members.choices import TagSource
from members.events import EventKind
from members.models import Event, Member, MemberTag, Tag
from members.services.segments import rule_tags_refresh, tag_rule_set
from members.services.tags import members_tag
from members.tasks import rule_tags_refresh as rule_tags_task
from tests import factories

pytestmark = pytest.mark.django_db

DOUYIN = {"all": [{"field": "source", "op": "in", "value": ["douyin"]}]}


def tagged(tag) -> set[str]:
    return set(MemberTag.objects.filter(tag=tag).values_list("member__name", flat=True))


def test_refresh_adds_and_removes_what_the_rule_says():
    tag = tag_rule_set(tag=factories.TagFactory(name="抖音粉"), tree=DOUYIN)
    factories.MemberFactory(name="甲", source="douyin")
    b = factories.MemberFactory(name="乙", source="douyin")
    factories.MemberFactory(name="丙", source="weibo")
    report = rule_tags_refresh()
    assert tagged(tag) == {"甲", "乙"}
    assert report[str(tag)] == {"added": 2, "removed": 0}
    assert set(MemberTag.objects.filter(tag=tag).values_list("source", flat=True)) == {"rule"}

    Member.objects.filter(pk=b.pk).update(source="weibo")
    report = rule_tags_refresh()
    assert tagged(tag) == {"甲"}
    assert report[str(tag)] == {"added": 0, "removed": 1}
    tag.refresh_from_db()
    assert (tag.rule_added, tag.rule_removed) == (0, 1) and tag.rule_refreshed_at
    assert Event.objects.filter(kind=EventKind.UNTAGGED, member=b).exists()


def test_a_second_run_changes_nothing():
    tag = tag_rule_set(tag=factories.TagFactory(), tree=DOUYIN)
    factories.MemberFactory(source="douyin")
    rule_tags_refresh()
    events = Event.objects.count()
    assert rule_tags_refresh()[str(tag)] == {"added": 0, "removed": 0}
    assert Event.objects.count() == events


def test_manual_tags_survive_the_rule():
    tag = tag_rule_set(tag=factories.TagFactory(), tree=DOUYIN)
    by_hand = factories.MemberFactory(name="手工", source="weibo")
    members_tag(members=Member.objects.filter(pk=by_hand.pk), tag=tag, source=TagSource.MANUAL)
    rule_tags_refresh()
    assert "手工" in tagged(tag)


def test_clearing_the_rule_takes_back_only_rule_made_tags():
    tag = tag_rule_set(tag=factories.TagFactory(), tree=DOUYIN)
    factories.MemberFactory(name="规则", source="douyin")
    by_hand = factories.MemberFactory(name="手工", source="weibo")
    members_tag(members=Member.objects.filter(pk=by_hand.pk), tag=tag)
    rule_tags_refresh()
    tag_rule_set(tag=tag, tree=None)
    assert tagged(tag) == {"手工"}
    assert Tag.objects.get(pk=tag.pk).rule is None


def test_a_bad_rule_is_refused_at_save():
    with pytest.raises(ValidationError) as caught:
        tag_rule_set(tag=factories.TagFactory(), tree={"all": [{"field": "x", "op": "in"}]})
    assert "all[0].field" in str(caught.value)


def test_a_rule_broken_later_is_reported_and_the_others_still_run():
    doomed = factories.TagFactory()
    broken = tag_rule_set(
        tag=factories.TagFactory(),
        tree={"all": [{"field": "tags", "op": "has_any", "value": [doomed.pk]}]},
    )
    fine = tag_rule_set(tag=factories.TagFactory(), tree=DOUYIN)
    factories.MemberFactory(source="douyin")
    doomed.delete()
    report = rule_tags_task()
    assert "error" in report[str(broken)]
    assert report[str(fine)] == {"added": 1, "removed": 0}
    # The operator sees why on the tag itself, until the rule is fixed and runs again.
    broken.refresh_from_db()
    assert broken.rule_error == report[str(broken)]["error"] and broken.rule_failed_at
    assert Tag.objects.get(pk=fine.pk).rule_error == ""
    tag_rule_set(tag=broken, tree=DOUYIN)
    broken.refresh_from_db()
    assert (broken.rule_error, broken.rule_failed_at) == ("", None)
    assert rule_tags_task()[str(broken)] == {"added": 1, "removed": 0}


def test_a_rule_that_fails_once_and_then_works_clears_its_error(monkeypatch):
    from members.services import segments as service

    tag = tag_rule_set(tag=factories.TagFactory(), tree=DOUYIN)
    factories.MemberFactory(source="douyin")
    real = service.rule_tag_refresh

    def timeout(**kwargs):
        raise RuntimeError("canceling statement due to statement timeout")

    monkeypatch.setattr(service, "rule_tag_refresh", timeout)
    assert rule_tags_refresh()[str(tag)] == {
        "error": "RuntimeError: canceling statement due to statement timeout"
    }
    assert "statement timeout" in Tag.objects.get(pk=tag.pk).rule_error
    monkeypatch.setattr(service, "rule_tag_refresh", real)
    assert rule_tags_refresh()[str(tag)] == {"added": 1, "removed": 0}
    tag.refresh_from_db()
    assert (tag.rule_error, tag.rule_failed_at, tag.rule_added) == ("", None, 1)


def test_a_rule_failing_when_it_runs_is_reported_and_later_rule_tags_still_refresh(
    monkeypatch, caplog
):
    from members.segments import SegmentField
    from members.segments import fields as registry

    def explode(op, value, ctx):
        raise RuntimeError("the groups app is mid-deploy")

    monkeypatch.setitem(
        registry._registry,
        "test_exploding",
        SegmentField("test_exploding", "x", "test", "bool", ("eq",), explode),
    )
    # Saved before the date checks existed (a ValueError when it compiles), and a rule over
    # another app's field that breaks when it compiles: both come before the good rule.
    too_late = factories.TagFactory(name="坏日期")
    Tag.objects.filter(pk=too_late.pk).update(
        rule={"field": "joined", "op": "between", "value": ["2020-01-01", "9999-12-31"]}
    )
    exploding = factories.TagFactory(name="坏字段")
    Tag.objects.filter(pk=exploding.pk).update(
        rule={"field": "test_exploding", "op": "eq", "value": True}
    )
    fine = tag_rule_set(tag=factories.TagFactory(name="好"), tree=DOUYIN)
    factories.MemberFactory(name="甲", source="douyin")

    report = rule_tags_task()

    assert report[str(fine)] == {"added": 1, "removed": 0}
    assert tagged(fine) == {"甲"}
    assert set(report[str(too_late)]) == {"error"} and "value" in report[str(too_late)]["error"]
    assert report[str(exploding)] == {"error": "RuntimeError: the groups app is mid-deploy"}
    for broken in (too_late, exploding):
        broken.refresh_from_db()
        assert broken.rule_refreshed_at is None  # left as it was
        assert not MemberTag.objects.filter(tag=broken).exists()
    assert any(
        r.levelname == "ERROR" and str(exploding.pk) in r.getMessage() for r in caplog.records
    )


def test_beat_runs_the_rule_tags_refresh_task(settings):
    from scrm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["rule-tags-refresh"]
    assert entry["task"] == rule_tags_task.name == "members.rule_tags_refresh"
    assert entry["task"] in app.tasks
