"""Members' privacy rights (PIPL): erasure and the right to a copy, by service, API and admin."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from members.api.auth import member_token_issue
from members.choices import ConsentStatus, CouponStatus, MemberStatus
from members.models import (
    AuditLog,
    Consent,
    Coupon,
    Event,
    Member,
    MemberMerge,
    MemberTag,
    Order,
    PointsEntry,
    TagGroup,
)
from members.services import privacy
from members.services.benefits import coupon_redeem, coupons_issue
from members.services.members import consent_set, member_merge, member_upsert
from members.services.orders import order_upsert
from members.services.privacy import (
    MEMBER_ERASED,
    member_data_copy,
    member_erase,
    member_erase_hook_register,
)
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")
PERSONAL = {
    "name": "王小美",
    "gender": "female",
    "birthday": date(1992, 5, 17),
    "province": "浙江",
    "city": "杭州",
    "unionid": "union-wxm",
    "openid": "open-wxm",
    "wecom_external_userid": "wm-wxm",
}


@pytest.fixture
def customer(store):
    """A member with every kind of personal data: profile, identities, a tag, consent, two
    paid orders (with points), an unused coupon and a coupon redeemed on an order."""
    member = factories.MemberFactory(home_store=store, phone="+8613912345678", **PERSONAL)
    members_tag(members=Member.objects.filter(pk=member.pk), tag=factories.TagFactory())
    consent_set(member=member, channel="sms", granted=True, method="miniprogram")
    for number, amount in (("A1", "300.00"), ("A2", "120.00")):
        order_upsert(
            source="pos",
            external_id=number,
            member=member,
            paid_amount=Decimal(amount),
            paid_at=timezone.now() - timedelta(days=3),
            store=store,
        )
    template = factories.CouponTemplateFactory()
    coupons_issue(template=template, members=Member.objects.filter(pk=member.pk))
    coupons_issue(template=template, members=Member.objects.filter(pk=member.pk))
    used = Coupon.objects.filter(member=member).first()
    coupon_redeem(code=used.code, order=Order.objects.get(external_id="A1"))
    member.refresh_from_db()
    return member


@pytest.fixture
def eraser(operator, roles):
    """An operator in the "Operators" role, which holds members.erase_members."""
    operator.groups.add(roles["operators"])
    return operator


@pytest.fixture
def eraser_api(eraser):
    client = APIClient()
    client.force_authenticate(eraser)
    return client


def erase_url(member):
    return f"/api/v1/members/{member.pk}/erase/"


def data_url(member):
    return f"/api/v1/members/{member.pk}/data/"


# --- the service --------------------------------------------------------------------------------


def test_erasing_wipes_identities_profile_tags_consents_points_and_timeline(customer):
    member_erase(member=customer)
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ERASED
    assert (customer.name, customer.gender, customer.birthday) == ("", "unknown", None)
    assert (customer.province, customer.city) == ("", "")
    identities = (customer.phone, customer.unionid, customer.openid)
    assert identities + (customer.wecom_external_userid,) == (None, None, None, None)
    assert (customer.points_balance, customer.order_count, customer.total_paid) == (0, 0, 0)
    assert not MemberTag.objects.filter(member=customer).exists()
    assert not Consent.objects.filter(member=customer).exists()
    assert not PointsEntry.objects.filter(member=customer).exists()
    # The timeline keeps only the fact of the erasure, with nothing about the person.
    assert list(Event.objects.filter(member=customer).values_list("kind", "data")) == [
        (MEMBER_ERASED, {})
    ]


def test_an_erased_persons_phone_and_wechat_ids_find_nobody(customer):
    member_erase(member=customer)
    again, created = member_upsert(phone="13912345678", unionid="union-wxm")
    assert created and again.pk != customer.pk
    assert not again.consents.exists()  # coming back is a new member who consented to nothing


def test_erasing_keeps_orders_for_accounting_but_not_attached_to_anyone(customer, store):
    other = factories.MemberFactory(home_store=store)
    order_upsert(
        source="pos",
        external_id="B1",
        member=other,
        paid_amount=Decimal("50.00"),
        paid_at=timezone.now(),
        store=store,
    )
    revenue = Order.objects.filter(store=store).aggregate(total=Sum("paid_amount"))["total"]
    assert revenue == Decimal("470.00")

    counts = member_erase(member=customer)

    assert counts["orders_detached"] == 2
    assert Order.objects.filter(store=store).aggregate(t=Sum("paid_amount"))["t"] == revenue
    assert set(Order.objects.filter(member__isnull=True).values_list("external_id", flat=True)) == {
        "A1",
        "A2",
    }
    assert list(Order.objects.filter(member=other).values_list("external_id", flat=True)) == ["B1"]
    other.refresh_from_db()
    assert other.total_paid == Decimal("50.00")
    # The redeemed coupon stays redeemed (coupon costs add up) but no longer names the order.
    assert not Coupon.objects.filter(redeemed_order__isnull=False).exists()


def test_unredeemed_coupons_are_voided_and_cannot_be_used(customer, store):
    unused = Coupon.objects.get(member=customer, status=CouponStatus.ISSUED)
    counts = member_erase(member=customer)
    assert counts["coupons_voided"] == 1
    unused.refresh_from_db()
    assert unused.status == CouponStatus.VOID
    assert Coupon.objects.filter(member=customer, status=CouponStatus.REDEEMED).count() == 1
    someone = factories.MemberFactory(home_store=store)
    order = factories.OrderFactory(member=someone, paid_amount=Decimal("500.00"))
    with translation.override("en"), pytest.raises(ValidationError, match="void"):
        coupon_redeem(code=unused.code, order=order)


def test_erasure_is_audited_with_counts_and_no_personal_data(customer, operator):
    points = customer.points_balance
    member_erase(member=customer, actor=operator, reason="ticket 4711")
    audit = AuditLog.objects.get(action="member.erase")
    assert (audit.actor, audit.target) == (operator, f"member:{customer.pk}")
    assert audit.data["reason"] == "ticket 4711"
    assert audit.data["counts"]["tags"] == 1
    assert audit.data["counts"]["consents"] == 1
    assert audit.data["counts"]["orders_detached"] == 2
    assert audit.data["counts"]["points_forfeited"] == points == 420
    text = json.dumps(audit.data, ensure_ascii=False)
    for value in ("王小美", "13912345678", "union-wxm", "open-wxm", "杭州", "A1"):
        assert value not in text


def test_erasing_twice_is_refused_clearly(customer):
    member_erase(member=customer)
    with translation.override("en"), pytest.raises(ValidationError, match="already been erased"):
        member_erase(member=customer)
    assert AuditLog.objects.filter(action="member.erase").count() == 1


def test_a_merged_record_cannot_be_erased_but_erasing_the_survivor_covers_it(customer):
    survivor = factories.MemberFactory(name="另一个记录")
    member_merge(survivor=survivor, merged=customer)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        member_erase(member=customer)
    assert f"erase #{survivor.pk} instead" in refused.value.messages[0]

    counts = member_erase(member=survivor)
    assert counts["merged_records"] == 1
    customer.refresh_from_db()
    assert customer.status == MemberStatus.MERGED
    assert (customer.name, customer.birthday, customer.city) == ("", None, "")
    assert MemberMerge.objects.get().snapshot == {}  # it held the merged phone and name
    assert not Order.objects.filter(member__isnull=False).exists()


def test_hooks_of_other_apps_run_inside_the_erasure(customer, monkeypatch):
    monkeypatch.setattr(privacy, "_erase_hooks", [])
    seen = []

    def drop_touchpoints(member):
        # The identities are still there for the app to match its rows on.
        seen.append((member.pk, member.phone))
        return {"pending_touchpoints": 3}

    member_erase_hook_register(drop_touchpoints)
    member_erase_hook_register(drop_touchpoints)  # registering twice runs it once
    counts = member_erase(member=customer)
    assert seen == [(customer.pk, "+8613912345678")]
    assert counts["pending_touchpoints"] == 3
    assert AuditLog.objects.get().data["counts"]["pending_touchpoints"] == 3


def test_what_hooks_removed_comes_back_when_the_erasure_fails(customer, monkeypatch):
    def drop_groups(member):
        TagGroup.objects.filter(name="社群").delete()
        return {"group_memberships": 1}

    def audit_fails(**kwargs):
        raise RuntimeError("disk full")

    factories.TagGroupFactory(name="社群")
    monkeypatch.setattr(privacy, "_erase_hooks", [drop_groups])
    monkeypatch.setattr(privacy, "audit_record", audit_fails)
    with pytest.raises(RuntimeError):
        member_erase(member=customer)
    assert TagGroup.objects.filter(name="社群").exists()  # the hook ran in the same transaction
    customer.refresh_from_db()
    assert (customer.status, customer.phone) == (MemberStatus.ACTIVE, "+8613912345678")
    assert Order.objects.filter(member=customer).count() == 2


def test_a_failing_hook_erases_nothing(customer, monkeypatch):
    def broken(member):
        raise RuntimeError("groups app is down")

    monkeypatch.setattr(privacy, "_erase_hooks", [broken])
    with pytest.raises(RuntimeError):
        member_erase(member=customer)
    customer.refresh_from_db()
    assert (customer.status, customer.name) == (MemberStatus.ACTIVE, "王小美")
    assert MemberTag.objects.filter(member=customer).exists()
    assert not AuditLog.objects.exists()


# --- the data copy ------------------------------------------------------------------------------


def test_data_copy_holds_everything_about_the_member(customer):
    copy = member_data_copy(member=customer)
    assert json.loads(json.dumps(copy)) == copy  # plain JSON all the way down
    assert copy["member"]["name"] == "王小美"
    assert copy["member"]["birthday"] == "1992-05-17"
    assert copy["identities"] == {
        "phone": "+8613912345678",
        "unionid": "union-wxm",
        "openid": "open-wxm",
        "wecom_external_userid": "wm-wxm",
        "email": None,
    }
    assert [(c["channel"], c["status"]) for c in copy["consents"]] == [
        ("sms", ConsentStatus.GRANTED)
    ]
    assert len(copy["tags"]) == 1
    assert [(o["external_id"], o["paid_amount"]) for o in copy["orders"]] == [
        ("A1", "300.00"),
        ("A2", "120.00"),
    ]
    assert sum(entry["points"] for entry in copy["points"]) == copy["member"]["points_balance"]
    assert sorted(c["status"] for c in copy["coupons"]) == ["issued", "redeemed"]
    kinds = {event["kind"] for event in copy["events"]}
    assert {"member.tagged", "consent.changed", "order.paid", "coupon.issued"} <= kinds


def test_data_copy_includes_records_merged_into_the_member(customer):
    survivor = factories.MemberFactory()
    member_merge(survivor=survivor, merged=customer)
    copy = member_data_copy(member=survivor)
    assert copy["identities"]["unionid"] == "union-wxm"  # taken over by the survivor
    [merged] = copy["merged_records"]
    assert (merged["id"], merged["name"]) == (customer.pk, "王小美")
    assert merged["when_merged"]["phone"] == "+8613912345678"


def test_data_copy_includes_what_other_apps_add(customer, monkeypatch):
    monkeypatch.setattr(privacy, "_data_copy_hooks", [])
    privacy.member_data_copy_hook_register(lambda member: {"groups": [{"name": "杭州宝妈群"}]})
    assert member_data_copy(member=customer)["groups"] == [{"name": "杭州宝妈群"}]


# --- staff API ----------------------------------------------------------------------------------


def test_operator_erases_a_member_over_the_api(eraser_api, eraser, customer):
    response = eraser_api.post(erase_url(customer), {"reason": "工单 88"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["member"], body["status"]) == (customer.pk, "erased")
    assert body["counts"]["orders_detached"] == 2
    assert eraser_api.get(f"/api/v1/members/{customer.pk}/").status_code == 404
    audit = AuditLog.objects.get(action="member.erase")
    assert (audit.actor, audit.data["reason"]) == (eraser, "工单 88")


def test_erasing_twice_over_the_api_is_a_clear_400(eraser_api, customer):
    assert eraser_api.post(erase_url(customer), format="json").status_code == 200
    again = eraser_api.post(erase_url(customer), format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 400
    assert "already been erased" in again.json()["non_field_errors"][0]


def test_erase_api_refuses_bad_input_and_unknown_members(eraser_api, customer):
    too_long = eraser_api.post(erase_url(customer), {"reason": "x" * 201}, format="json")
    assert too_long.status_code == 400 and "reason" in too_long.json()
    assert eraser_api.post(erase_url(customer), {"name": "x"}, format="json").status_code == 400
    assert eraser_api.post("/api/v1/members/999999/erase/", format="json").status_code == 404
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ACTIVE


def test_a_guide_never_erases_even_their_own_stores_member(guide_api, customer, other_member):
    for member in (customer, other_member):
        response = guide_api.post(erase_url(member), format="json")
        assert response.status_code in (403, 404)
        assert guide_api.get(data_url(member)).status_code in (403, 404)
    assert Member.objects.filter(status=MemberStatus.ACTIVE).count() == 2
    assert not AuditLog.objects.exists()


def test_api_keys_and_member_tokens_cannot_erase_or_copy(make_key_api, customer, make_member_api):
    key = make_key_api("members:read", "members:write")
    for client in (key, make_member_api(customer)):
        assert client.post(erase_url(customer), format="json").status_code == 403
        assert client.get(data_url(customer)).status_code == 403
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ACTIVE


def test_an_operator_without_the_erase_permission_cannot_erase(operator_api, customer):
    assert operator_api.post(erase_url(customer), format="json").status_code == 403
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ACTIVE


def test_operator_gets_a_members_data_copy_audited_as_an_export(operator_api, operator, customer):
    response = operator_api.get(data_url(customer))
    assert response.status_code == 200
    assert response.json()["identities"]["phone"] == "+8613912345678"
    assert len(response.json()["orders"]) == 2
    audit = AuditLog.objects.get(action="members.export")
    assert (audit.actor, audit.target, audit.data["count"]) == (
        operator,
        f"member:{customer.pk}",
        1,
    )


# --- mini-program -------------------------------------------------------------------------------


def test_a_member_gets_their_own_data_copy(make_member_api, customer):
    response = make_member_api(customer).get("/api/v1/me/data/")
    assert response.status_code == 200
    body = response.json()
    assert (body["member"]["id"], body["identities"]["openid"]) == (customer.pk, "open-wxm")
    audit = AuditLog.objects.get(action="members.export")
    assert audit.actor_label == f"member #{customer.pk}"


@pytest.mark.parametrize("body", [{}, {"confirm": False}, {"confirm": "maybe"}])
def test_me_erase_needs_an_explicit_confirmation(make_member_api, customer, body):
    response = make_member_api(customer).post("/api/v1/me/erase/", body, format="json")
    assert response.status_code == 400
    assert "confirm" in response.json()
    customer.refresh_from_db()
    assert (customer.status, customer.name) == (MemberStatus.ACTIVE, "王小美")


def test_a_member_erases_themselves_and_their_token_stops_working(customer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Member {member_token_issue(member=customer)}")
    assert client.get("/api/v1/me/").status_code == 200

    response = client.post("/api/v1/me/erase/", {"confirm": True}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "erased"
    assert client.get("/api/v1/me/").status_code == 401
    assert client.get("/api/v1/me/data/").status_code == 401
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ERASED and customer.phone is None
    assert AuditLog.objects.get(action="member.erase").actor_label == f"member #{customer.pk}"


def test_a_token_issued_before_an_operator_erasure_is_revoked(customer, make_member_api):
    client = make_member_api(customer)
    member_erase(member=customer)
    assert client.get("/api/v1/me/").status_code == 401


# --- admin --------------------------------------------------------------------------------------


def admin_act(client, members, *, confirm=None, select_across=False, url=CHANGELIST):
    data = {
        "action": "erase_members",
        helpers.ACTION_CHECKBOX_NAME: [m.pk for m in members],
        "select_across": "1" if select_across else "0",
    }
    if confirm is not None:
        data.update(confirm, post="yes")
    return client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")


def test_admin_erase_asks_for_confirmation_then_erases(operator_admin, operator, customer):
    other = factories.MemberFactory()
    page = admin_act(operator_admin, [customer, other])
    assert page.status_code == 200
    assert "admin/members/member/erase_confirmation.html" in [t.name for t in page.templates]
    assert page.context["count"] == 2
    assert "2 members will be erased" in page.content.decode()
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ACTIVE  # nothing happens before the confirmation

    response = admin_act(operator_admin, [customer, other], confirm={"reason": "ticket 12"})
    assert response.status_code == 302
    assert Member.objects.filter(status=MemberStatus.ERASED).count() == 2
    assert AuditLog.objects.filter(action="member.erase", actor=operator).count() == 2


def test_admin_erase_refuses_a_large_selection(operator_admin, monkeypatch):
    from members.admin import privacy_actions

    monkeypatch.setattr(privacy_actions, "ERASE_MAX", 2)
    members = factories.MemberFactory.create_batch(3)
    response = admin_act(operator_admin, members, confirm={}, select_across=True)
    assert response.status_code == 302
    assert not Member.objects.filter(status=MemberStatus.ERASED).exists()


def test_guides_do_not_get_the_erase_action(guide_admin, store, customer):
    response = guide_admin.get(CHANGELIST)
    actions = {name for name, _label in response.context["action_form"].fields["action"].choices}
    assert "erase_members" not in actions
    assert admin_act(guide_admin, [customer], confirm={}).status_code == 302
    customer.refresh_from_db()
    assert customer.status == MemberStatus.ACTIVE


def test_operators_without_the_permission_do_not_get_the_erase_action(operator, roles):
    from django.test import Client

    operator.groups.add(roles["operators"])
    roles["operators"].permissions.remove(
        *roles["operators"].permissions.filter(codename="erase_members")
    )
    client = Client()
    client.force_login(operator)
    factories.MemberFactory()
    response = client.get(CHANGELIST)
    actions = {name for name, _label in response.context["action_form"].fields["action"].choices}
    assert "erase_members" not in actions and "merge_members" in actions


def test_erasing_drops_the_scores_derived_from_the_purchase_history(customer):
    from django.utils import timezone

    from members.models import MemberMetrics

    MemberMetrics.objects.create(
        member=customer,
        r_score=5,
        f_score=5,
        m_score=5,
        rfm=555,
        stage="active",
        computed_at=timezone.now(),
    )
    member_erase(member=customer)
    assert not MemberMetrics.objects.filter(member=customer).exists()
