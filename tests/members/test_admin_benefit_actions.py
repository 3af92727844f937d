"""Benefit actions of the member list: adjust points (never below zero) and issue a coupon, for
operators only; the set-based points service behind the first."""

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse

from members.choices import PointsKind
from members.events import EventKind
from members.models import AuditLog, Coupon, Event, Member, PointsEntry
from members.services.benefits import points_adjust, points_adjust_bulk, points_earn
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")


def act(client, action, members, *, apply=None):
    data = {
        "action": action,
        helpers.ACTION_CHECKBOX_NAME: [m.pk for m in members],
        "select_across": "0",
    }
    if apply is not None:
        data.update(apply, apply="1")
    return client.post(CHANGELIST, data, HTTP_ACCEPT_LANGUAGE="en")


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def with_points(points: int) -> Member:
    member = factories.MemberFactory()
    if points:
        points_earn(member=member, points=points, reason="seed")
    member.refresh_from_db()
    return member


def test_adjust_points_shows_a_form_then_adds(operator_admin, operator):
    members = [with_points(0), with_points(10)]
    bystander = with_points(5)

    page = act(operator_admin, "adjust_points", members)
    assert page.status_code == 200
    assert "admin/members/member/action_form.html" in [t.name for t in page.templates]
    assert page.context["count"] == 2

    response = act(
        operator_admin, "adjust_points", members, apply={"points": "50", "reason": "门店补偿"}
    )
    assert response.status_code == 302
    assert texts(response) == ["Adjusted the points of 2 members by +50."]
    balances = dict(Member.objects.values_list("pk", "points_balance"))
    assert (balances[members[0].pk], balances[members[1].pk], balances[bystander.pk]) == (
        50,
        60,
        5,
    )
    entries = PointsEntry.objects.filter(kind=PointsKind.ADJUST).order_by("member_id")
    assert [(e.delta, e.balance_after, e.reason, e.remaining) for e in entries] == [
        (50, 50, "门店补偿", 50),
        (50, 60, "门店补偿", 50),
    ]
    assert Event.objects.filter(kind=EventKind.POINTS_CHANGED, data__delta=50).count() == 2
    audit = AuditLog.objects.get(action="points.adjust")
    assert audit.actor == operator and audit.data["adjusted"] == 2


def test_a_deduction_below_zero_is_refused_for_that_member_only(operator_admin):
    rich, poor = with_points(100), with_points(10)
    response = act(
        operator_admin, "adjust_points", [rich, poor], apply={"points": "-30", "reason": "纠错"}
    )
    assert response.status_code == 302
    messages = texts(response)
    assert messages[0] == "Adjusted the points of 1 member by -30."
    assert messages[1] == (
        "1 member has fewer than 30 points; their balance cannot go below zero and was left "
        f"unchanged: #{poor.pk}."
    )
    rich.refresh_from_db()
    poor.refresh_from_db()
    assert (rich.points_balance, poor.points_balance) == (70, 10)
    # Nothing written for the refused member: no ledger row, no event.
    assert not PointsEntry.objects.filter(member=poor, kind=PointsKind.ADJUST).exists()
    assert not Event.objects.filter(member=poor, data__kind=PointsKind.ADJUST).exists()
    assert PointsEntry.objects.get(member=rich, kind=PointsKind.EARN).remaining == 70


def test_adjust_points_needs_a_reason_and_a_non_zero_amount(operator_admin):
    member = with_points(10)
    page = act(operator_admin, "adjust_points", [member], apply={"points": "0", "reason": ""})
    assert page.status_code == 200
    assert set(page.context["form"].errors) == {"points", "reason"}
    member.refresh_from_db()
    assert member.points_balance == 10


def test_issue_coupon(operator_admin, operator):
    members = factories.MemberFactory.create_batch(2)
    other = factories.MemberFactory()
    template = factories.CouponTemplateFactory(name="满100减20")

    page = act(operator_admin, "issue_coupon", members)
    assert page.status_code == 200
    assert list(page.context["form"].fields["template"].queryset) == [template]

    response = act(
        operator_admin, "issue_coupon", members, apply={"template": template.pk, "reason": "生日"}
    )
    assert response.status_code == 302
    assert texts(response) == ["Issued “满100减20” to 2 members."]
    assert set(Coupon.objects.values_list("member_id", flat=True)) == {m.pk for m in members}
    assert not Coupon.objects.filter(member=other).exists()
    template.refresh_from_db()
    assert template.issued_count == 2
    assert AuditLog.objects.get(action="coupons.issue").actor == operator


def test_issue_coupon_out_of_stock_issues_nothing(operator_admin):
    members = factories.MemberFactory.create_batch(3)
    template = factories.CouponTemplateFactory(total_quantity=2)
    response = act(operator_admin, "issue_coupon", members, apply={"template": template.pk})
    assert response.status_code == 302
    assert "Not enough coupons left" in texts(response)[0]
    assert not Coupon.objects.exists()


def test_guides_do_not_get_the_benefit_actions(guide_admin, store):
    member = factories.MemberFactory(home_store=store)
    points_earn(member=member, points=10, reason="seed")
    choices = [
        name
        for name, _label in guide_admin.get(CHANGELIST)
        .context["action_form"]
        .fields["action"]
        .choices
    ]
    assert "tag_members" in choices
    assert "adjust_points" not in choices and "issue_coupon" not in choices

    template = factories.CouponTemplateFactory()
    act(guide_admin, "adjust_points", [member], apply={"points": "-10", "reason": "x"})
    act(guide_admin, "issue_coupon", [member], apply={"template": template.pk})
    member.refresh_from_db()
    assert member.points_balance == 10
    assert not Coupon.objects.exists()


def test_operators_get_the_benefit_actions(operator_admin):
    choices = dict(operator_admin.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert {"adjust_points", "issue_coupon"} <= set(choices)


def test_bulk_adjust_walks_chunks_and_matches_the_single_member_service():
    """Chunks of 2 over 5 members, earnings spent oldest expiry first as points_adjust does."""
    bulk = [factories.MemberFactory() for _ in range(5)]
    single = [factories.MemberFactory() for _ in range(5)]
    for group in (bulk, single):
        for index, member in enumerate(group):
            # Balances 10, 15, 20, 25, 30: the first is short of 12.
            points_earn(member=member, points=10, reason="a", valid_days=30)
            if index:
                points_earn(member=member, points=5 * index, reason="b", valid_days=10)
    result = points_adjust_bulk(
        members=Member.objects.filter(pk__in=[m.pk for m in bulk]),
        points=-12,
        reason="纠错",
        chunk=2,
    )
    assert (result.adjusted, result.refused, result.refused_ids) == (4, 1, (bulk[0].pk,))
    for member in single:
        member.refresh_from_db()
        if member.points_balance >= 12:
            points_adjust(member=member, points=-12, reason="纠错")

    def state(group):
        rows = []
        for member in group:
            member.refresh_from_db()
            lots = PointsEntry.objects.filter(member=member, kind=PointsKind.EARN).order_by("pk")
            rows.append((member.points_balance, [lot.remaining for lot in lots]))
        return rows

    assert state(bulk) == state(single)
    assert not AuditLog.objects.filter(action="points.adjust").exists()  # no actor, no audit
