"""Rule trees: every field and operator selects the members an operator would expect."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from django.test import override_settings
from django.utils import translation

from members.choices import ConsentChannel, MemberStatus, OrderStatus
from members.models import Member
from members.segments import TreeError, segment_members, tree_explain, tree_parse
from members.services.members import consent_set
from members.services.orders import order_upsert
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 on 15 June 2026 in Shanghai: relative dates below count from here.
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)


def names(tree, now=NOW) -> set[str]:
    return set(segment_members(tree, now=now).values_list("name", flat=True))


def cond(field, op, value=None) -> dict:
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    return node


def member(name, **values) -> Member:
    return factories.MemberFactory(name=name, **values)


def buy(m: Member, paid_at: datetime, amount="100.00", *, status=OrderStatus.PAID):
    order_upsert(
        source="pos",
        external_id=f"{m.pk}-{paid_at.isoformat()}",
        member=m,
        paid_amount=Decimal(amount),
        gross_margin=Decimal(amount) / 2,
        paid_at=paid_at,
        status=status,
    )


# --- profile ---------------------------------------------------------------------------------


def test_tier_in_and_not_in_keeps_members_without_a_tier():
    gold = factories.TierFactory(code="gold")
    silver = factories.TierFactory(code="silver")
    member("金", tier=gold)
    member("银", tier=silver)
    member("无")
    assert names(cond("tier", "in", ["gold"])) == {"金"}
    assert names(cond("tier", "not_in", ["gold"])) == {"银", "无"}
    assert names(cond("tier", "is_not_set")) == {"无"}


def test_store_source_guide_gender_city_province():
    a, b = factories.StoreFactory(code="SH01"), factories.StoreFactory(code="BJ01")
    guide = factories.GuideFactory(store=a)
    member("甲", home_store=a, source="douyin", guide=guide, gender="female", city="上海")
    member("乙", home_store=b, source="weibo", gender="male", city="北京", province="北京")
    assert names(cond("store", "in", ["SH01"])) == {"甲"}
    assert names(cond("source", "not_in", ["douyin"])) == {"乙"}
    assert names(cond("guide", "in", [guide.pk])) == {"甲"}
    assert names(cond("gender", "in", ["male"])) == {"乙"}
    assert names(cond("city", "in", ["上海", "广州"])) == {"甲"}
    assert names(cond("province", "in", ["北京"])) == {"乙"}


def test_age_counts_whole_years_in_shanghai_today():
    member("刚满30", birthday=date(1996, 6, 15))
    member("明天满30", birthday=date(1996, 6, 16))
    member("无生日")
    assert names(cond("age", "gte", 30)) == {"刚满30"}
    assert names(cond("age", "eq", 29)) == {"明天满30"}
    assert names(cond("age", "between", [29, 30])) == {"刚满30", "明天满30"}
    assert names(cond("age", "lt", 30)) == {"明天满30"}
    assert names(cond("age", "ne", 30)) == {"明天满30"}  # no birthday, no age


def test_birthday_month_and_join_date():
    member("六月", birthday=date(1990, 6, 1))
    member("七月", birthday=date(1990, 7, 1))
    assert names(cond("birthday_month", "in", [6])) == {"六月"}
    Member.objects.filter(name="七月").update(created_at=NOW - timedelta(days=40))
    assert names(cond("joined", "within_last_days", 30)) == {"六月"}
    assert names(cond("joined", "before", "2026-06-01")) == {"七月"}


# --- tags ------------------------------------------------------------------------------------


def test_tags_any_all_none():
    oily, dry = factories.TagFactory(), factories.TagFactory()
    both, only_oily, untagged = member("两个"), member("油"), member("无")
    members_tag(members=Member.objects.filter(pk__in=[both.pk, only_oily.pk]), tag=oily)
    members_tag(members=Member.objects.filter(pk=both.pk), tag=dry)
    assert names(cond("tags", "has_any", [oily.pk, dry.pk])) == {"两个", "油"}
    assert names(cond("tags", "has_all", [oily.pk, dry.pk])) == {"两个"}
    assert names(cond("tags", "has_none", [dry.pk])) == {"油", "无"}
    assert untagged


def test_unknown_tag_is_refused_with_the_node_path():
    with pytest.raises(TreeError) as caught:
        tree_parse({"all": [cond("tags", "has_any", [999999])]})
    assert caught.value.errors[0]["path"] == "all[0].value"
    assert "999999" in caught.value.errors[0]["message"]


# --- purchases -------------------------------------------------------------------------------


def test_purchase_stats_and_average_order_value():
    big, small = member("大"), member("小")
    buy(big, NOW - timedelta(days=3), "500.00")
    buy(big, NOW - timedelta(days=2), "300.00")
    buy(small, NOW - timedelta(days=1), "50.00")
    member("没买")
    assert names(cond("order_count", "gte", 2)) == {"大"}
    assert names(cond("total_paid", "between", [40, 60])) == {"小"}
    assert names(cond("total_margin", "gt", 100)) == {"大"}
    assert names(cond("average_order_value", "gte", 400)) == {"大"}
    assert names(cond("average_order_value", "lt", 400)) == {"小"}  # never-bought excluded


def test_days_since_last_purchase_counts_local_calendar_days():
    # 23:30 Shanghai yesterday is 15:30 UTC: still "1 day ago" for a brand in Shanghai.
    yesterday = member("昨天")
    buy(yesterday, datetime(2026, 6, 14, 23, 30, tzinfo=SHANGHAI))
    today = member("今天")
    buy(today, datetime(2026, 6, 15, 0, 10, tzinfo=SHANGHAI))
    old = member("很久")
    buy(old, NOW - timedelta(days=120))
    member("没买")
    assert names(cond("days_since_last_purchase", "eq", 1)) == {"昨天"}
    assert names(cond("days_since_last_purchase", "eq", 0)) == {"今天"}
    assert names(cond("days_since_last_purchase", "gte", 90)) == {"很久"}
    assert names(cond("days_since_last_purchase", "lte", 1)) == {"昨天", "今天"}
    assert names(cond("days_since_last_purchase", "is_not_set")) == {"没买"}


def test_bought_within_a_window_ignores_refunded_orders():
    recent, refunded, earlier = member("近期"), member("退款"), member("早先")
    buy(recent, NOW - timedelta(days=5))
    buy(refunded, NOW - timedelta(days=5), status=OrderStatus.REFUNDED)
    buy(earlier, NOW - timedelta(days=60))
    assert names(cond("purchased", "within_last_days", 30)) == {"近期"}
    assert names(cond("purchased", "not_within_last_days", 30)) == {"退款", "早先"}
    assert names(cond("purchased", "between", ["2026-04-01", "2026-04-30"])) == {"早先"}
    assert names(cond("first_purchase", "after", "2026-06-01")) == {"近期"}
    assert names(cond("last_purchase", "is_set")) == {"近期", "早先"}


def test_relative_dates_move_with_the_evaluation_time():
    m = member("会员")
    buy(m, NOW - timedelta(days=10))
    tree = cond("purchased", "within_last_days", 30)
    assert names(tree) == {"会员"}
    assert names(tree, now=NOW + timedelta(days=25)) == set()


# --- consent and groups ----------------------------------------------------------------------


def test_consent_granted_and_withdrawn():
    yes, withdrawn = member("同意"), member("撤回")
    member("没表态")
    consent_set(member=yes, channel=ConsentChannel.SMS, granted=True)
    consent_set(member=withdrawn, channel=ConsentChannel.SMS, granted=True)
    consent_set(member=withdrawn, channel=ConsentChannel.SMS, granted=False)
    assert names(cond("consent", "granted", ["sms"])) == {"同意"}
    assert names(cond("consent", "not_granted", ["sms"])) == {"撤回", "没表态"}


def test_groups_all_any_not_and_empty_groups():
    gold = factories.TierFactory(code="gold")
    member("金抖", tier=gold, source="douyin")
    member("金微", tier=gold, source="weibo")
    member("抖", source="douyin")
    tree = {
        "all": [
            cond("tier", "in", ["gold"]),
            {"not": cond("source", "in", ["weibo"])},
        ]
    }
    assert names(tree) == {"金抖"}
    assert names({"any": [cond("tier", "in", ["gold"]), cond("source", "in", ["douyin"])]}) == {
        "金抖",
        "金微",
        "抖",
    }
    # An empty "all" is everyone, an empty "any" no one, even inside an "any".
    assert names({"all": []}) == {"金抖", "金微", "抖"}
    assert names({"any": [{"any": []}, cond("source", "in", ["weibo"])]}) == {"金微"}
    assert names({"not": {"any": []}}) == {"金抖", "金微", "抖"}


def test_merged_and_erased_members_are_never_in_a_segment():
    member("在")
    member("并", status=MemberStatus.MERGED, phone=None)
    assert names({"all": []}) == {"在"}


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tree, path",
    [
        ([], "tree"),
        ({"all": "x"}, "all"),
        ({"all": [], "any": []}, "tree"),
        ({"all": [{"field": "nope", "op": "in", "value": [1]}]}, "all[0].field"),
        ({"all": [{"field": "tier", "op": "gt", "value": 1}]}, "all[0].op"),
        ({"any": [{"not": {"field": "age", "op": "gte", "value": "old"}}]}, "any[0].not.value"),
        ({"all": [{"field": "age", "op": "between", "value": [40, 20]}]}, "all[0].value"),
        ({"all": [{"field": "joined", "op": "before", "value": "31/01/2026"}]}, "all[0].value"),
        ({"all": [{"field": "source", "op": "in", "value": ["mars"]}]}, "all[0].value"),
        ({"all": [{"field": "tier", "op": "in", "value": [], "x": 1}]}, "all[0]"),
    ],
)
def test_bad_trees_name_the_faulty_node(tree, path):
    with pytest.raises(TreeError) as caught:
        tree_parse(tree)
    assert path in [e["path"] for e in caught.value.errors]


def test_every_fault_is_reported_at_once():
    with pytest.raises(TreeError) as caught:
        tree_parse({"all": [cond("nope", "in", [1]), cond("order_count", "gte", "many")]})
    assert [e["path"] for e in caught.value.errors] == ["all[0].field", "all[1].value"]


@override_settings(SCRM_SEGMENT_MAX_DEPTH=3, SCRM_SEGMENT_MAX_CONDITIONS=4)
def test_trees_beyond_the_limits_are_refused_with_the_limit_stated():
    deep = {"all": [{"any": [{"all": [{"not": cond("order_count", "gte", 1)}]}]}]}
    with pytest.raises(TreeError) as caught:
        tree_parse(deep)
    assert "3" in caught.value.errors[0]["message"]
    wide = {"any": [cond("order_count", "gte", n) for n in range(5)]}
    with pytest.raises(TreeError) as caught:
        tree_parse(wide)
    assert "4" in caught.value.errors[0]["message"]
    assert "5" in caught.value.errors[0]["message"]


# --- explanations ----------------------------------------------------------------------------


def test_explanation_reads_names_not_codes_in_both_languages():
    factories.TierFactory(code="gold", name="金卡")
    tag = factories.TagFactory(name="油性", group=factories.TagGroupFactory(name="肤质"))
    node = tree_parse(
        {
            "all": [
                cond("tier", "in", ["gold"]),
                cond("tags", "has_any", [tag.pk]),
                {"not": cond("purchased", "within_last_days", 30)},
            ]
        }
    )
    english = tree_explain(node, language="en")
    assert english.splitlines()[0] == "All of:"
    assert "金卡" in english and "肤质: 油性" in english
    assert "bought within the last 30 days" in english
    chinese = tree_explain(node, language="zh-hans")
    assert chinese.splitlines()[0] != "All of:"
    assert "金卡" in chinese and "30" in chinese


# --- RFM and lifecycle (nightly metrics) -----------------------------------------------------


def test_rfm_scores_and_lifecycle_stage():
    from members.models.metrics import LifecycleStage, MemberMetrics

    def scored(name, r, f, m, stage, changed=None):
        MemberMetrics.objects.create(
            member=member(name),
            r_score=r,
            f_score=f,
            m_score=m,
            rfm=r and r * 100 + f * 10 + m,
            stage=stage,
            stage_changed_at=changed,
            computed_at=NOW,
        )

    scored("冠军", 5, 5, 5, LifecycleStage.ACTIVE, NOW - timedelta(days=3))
    scored("流失", 1, 2, 3, LifecycleStage.CHURNED, NOW - timedelta(days=60))
    scored("新客", None, None, None, LifecycleStage.PROSPECT)
    assert names(cond("r_score", "gte", 4)) == {"冠军"}
    assert names(cond("m_score", "between", [2, 3])) == {"流失"}
    assert names(cond("lifecycle_stage", "in", ["churned", "at_risk"])) == {"流失"}
    assert names(cond("lifecycle_stage", "not_in", ["active"])) == {"流失", "新客"}
    assert names(cond("stage_changed", "within_last_days", 7)) == {"冠军"}
    with pytest.raises(TreeError):
        tree_parse(cond("f_score", "gte", 6))


# --- values no database can hold, sizes, compilation ----------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        cond("joined", "between", ["2026-01-01", "9999-12-31"]),  # was a ValueError
        cond("joined", "before", "0001-01-01"),  # was an OverflowError
        cond("joined", "after", "0001-01-01"),
        cond("first_purchase", "after", "1899-12-31"),
        cond("purchased", "between", ["2026-01-01", "9999-01-01"]),
        cond("expected_next_purchase", "between", ["2026-01-01", "9999-12-31"]),
    ],
)
def test_dates_outside_1900_to_9998_are_refused_naming_the_node(condition):
    from django.core.exceptions import ValidationError

    from members.services.segments import segment_tree_check

    tree = {"all": [cond("order_count", "gte", 0), condition]}
    with translation.override("en"), pytest.raises(TreeError) as caught:
        tree_parse(tree)
    assert caught.value.errors == [
        {"path": "all[1].value", "message": "A date from 1900-01-01 to 9998-12-31 is required."}
    ]
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        segment_tree_check(tree)
    assert caught.value.message_dict["tree"] == [
        "all[1].value: A date from 1900-01-01 to 9998-12-31 is required."
    ]


def test_the_last_and_first_accepted_days_count():
    member("会员")
    assert names(cond("joined", "between", ["1900-01-01", "9998-12-31"])) == {"会员"}
    assert names(cond("joined", "after", "9998-12-31")) == set()


@pytest.mark.parametrize("bad", [2**63, 2**64, 0, -1, "12345678901234567890123", 1.5, "x", True])
def test_tag_ids_outside_bigint_are_refused_naming_the_node(bad):
    tag = factories.TagFactory()
    with translation.override("en"), pytest.raises(TreeError) as caught:
        tree_parse({"any": [cond("tags", "has_any", [tag.pk, bad])]})
    assert [e["path"] for e in caught.value.errors] == ["any[0].value"]
    assert "Tags are given by their ids" in caught.value.errors[0]["message"]


def test_the_largest_bigint_is_an_unknown_tag_not_a_crash():
    with pytest.raises(TreeError) as caught:
        tree_parse(cond("tags", "has_none", [2**63 - 1]))
    assert caught.value.errors[0]["path"] == "value"
    assert str(2**63 - 1) in caught.value.errors[0]["message"]


@pytest.fixture
def broken_field(monkeypatch):
    """Register a field as another app would; ``how`` decides how its compilation fails."""
    from members.segments import SegmentField
    from members.segments import fields as registry

    def register(name, compile_q, clean_value=None):
        field = SegmentField(
            name, name, "test", "number", ("gte",), compile_q, clean_value=clean_value
        )
        monkeypatch.setitem(registry._registry, name, field)
        return field

    return register


def test_the_check_compiles_the_tree_and_names_the_node_that_fails(broken_field):
    def explode(op, value, ctx):
        raise OverflowError("date value out of range")

    broken_field("test_overflow", explode)
    tree = {"all": [cond("order_count", "gte", 1), {"not": cond("test_overflow", "gte", 1)}]}
    with translation.override("en"), pytest.raises(TreeError) as caught:
        tree_parse(tree)
    assert [e["path"] for e in caught.value.errors] == ["all[1].not.value"]
    assert "out of range" in caught.value.errors[0]["message"]


def test_integers_beyond_bigint_are_caught_when_the_tree_compiles(broken_field):
    # A field whose values reach the SQL as Python ints (Django guards comparisons, not IN):
    # SQLite cannot bind 2**70, PostgreSQL would compare a bigint with a numeric.
    broken_field(
        "test_int",
        lambda op, v, ctx: Q(order_count__in=[v]),
        clean_value=lambda op, v: int(v),
    )
    with pytest.raises(TreeError) as caught:
        tree_parse({"any": [cond("test_int", "gte", 5), cond("test_int", "gte", 2**70)]})
    assert [e["path"] for e in caught.value.errors] == ["any[1].value"]
    assert names(cond("test_int", "gte", 0)) == set()  # a fitting value still works


def test_a_field_check_tripping_over_a_value_is_that_values_fault(broken_field):
    # An app's clean_value that lets int()'s ValueError out: the value's fault, a 400.
    broken_field(
        "test_clean", lambda op, v, ctx: Q(pk__isnull=False), clean_value=lambda o, v: int(v)
    )
    with pytest.raises(TreeError) as caught:
        tree_parse({"all": [cond("test_clean", "gte", "many")]})
    assert [e["path"] for e in caught.value.errors] == ["all[0].value"]


def test_size_limits_are_checked_before_any_value_is(django_assert_num_queries):
    tag = factories.TagFactory()
    wide = {"any": [cond("tags", "has_any", [tag.pk]) for _ in range(2000)]}
    with (
        django_assert_num_queries(0),
        translation.override("en"),
        pytest.raises(TreeError) as caught,
    ):
        tree_parse(wide)
    assert caught.value.errors == [
        {"path": "tree", "message": "A tree holds at most 50 conditions; this one has 2000."}
    ]
    deep = cond("tags", "has_any", [tag.pk])
    for _ in range(5000):  # far deeper than Python's recursion limit
        deep = {"not": deep}
    with django_assert_num_queries(0), pytest.raises(TreeError) as caught:
        tree_parse(deep)
    assert [e["path"] for e in caught.value.errors] == ["not.not.not.not.not.not"]


def test_tier_and_store_compile_to_their_ids_not_a_subquery():
    gold = factories.TierFactory(code="gold")
    store = factories.StoreFactory(code="SH01")
    factories.StoreFactory(code="BJ01")
    member("金", tier=gold, home_store=store)
    member("无")
    tree = {"all": [cond("tier", "in", ["gold"]), cond("store", "not_in", ["BJ01"])]}
    sql = str(segment_members(tree, now=NOW).query)
    assert "members_tier" not in sql and "members_store" not in sql
    assert f'tier_id" IN ({gold.pk})' in sql
    assert names(tree) == {"金"}
    assert names(cond("store", "not_in", ["SH01"])) == {"无"}
