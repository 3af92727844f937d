"""The member admin's search at a million members: each kind of term is answered from an index
(migration 0010_member_search_indexes), checked with EXPLAIN on PostgreSQL, and finds what an
operator expects on both databases."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from members.models import Member
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["小美", "伟", "芳", "娜", "敏静", "丽", "强", "磊", "军", "洋"]


def listed(response) -> set[int]:
    return {m.pk for m in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("王小美", {"王小美", "欧阳王小美"}),  # three characters: anywhere in the name
        ("小美", {"王小美", "欧阳王小美", "小美子"}),  # two: the start or the end
        ("阳王", set()),  # ... not the middle
        ("王", {"王小美", "王芳"}),  # one: the surname
        ("zhang", {"Zhang Wei", "Li Zhangsan"}),  # any case
        ("li", {"Li Zhangsan"}),
    ],
)
def test_name_search(operator_admin, term, found):
    names = ["王小美", "欧阳王小美", "小美子", "王芳", "李雷", "Zhang Wei", "Li Zhangsan"]
    members = {factories.MemberFactory(name=name).pk: name for name in names}
    result = listed(operator_admin.get(CHANGELIST, {"q": term}))
    assert {members[pk] for pk in result} == found


def test_last_four_digits_match_the_end_of_the_phone_only(operator_admin):
    hit = factories.MemberFactory(phone="+8613812345678")
    factories.MemberFactory(phone="+8615678123400")  # 5678 inside, not at the end
    factories.MemberFactory(phone=None, name="5678")
    assert listed(operator_admin.get(CHANGELIST, {"q": "5678"})) == {hit.pk}


# --- PostgreSQL: the plans -------------------------------------------------------------------


def _search_sql(user, term: str) -> tuple[str, tuple]:
    """The SQL of the admin's member list searched for ``term`` (the page's query)."""
    model_admin = site._registry[Member]
    request = RequestFactory().get(CHANGELIST, {"q": term})
    request.user = user
    queryset, _dupes = model_admin.get_search_results(
        request, model_admin.get_queryset(request), term
    )
    return queryset.query.sql_with_params()


def _index_scans(plan: dict) -> list[dict]:
    found = [plan] if plan.get("Index Name") else []
    for child in plan.get("Plans", ()):
        found += _index_scans(child)
    return found


@pytest.fixture
def search_indexes():
    """The indexes as migration 0010 creates them (the test database is built from the models,
    which cannot declare the PostgreSQL-only trigram index)."""
    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    migration = importlib.import_module("members.migrations.0010_member_search_indexes")
    with connection.schema_editor(atomic=True) as editor:
        migration.create_search_indexes(editor)


@pytest.fixture
def many_members(search_indexes):
    """400 members with Chinese names and distinct phones."""
    Member.objects.bulk_create(
        Member(
            name=f"{SURNAMES[i % 10]}{GIVEN[i // 10 % 10]}{'' if i % 3 else '子'}",
            phone=f"+86138{i:08d}",
        )
        for i in range(400)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")


def _explain(user, term: str) -> list[dict]:
    """Index scans of the search's plan, run for real (EXPLAIN ANALYZE) with sequential and
    plain index scans switched off: a condition the indexes cannot serve then shows as a scan
    of the whole table (or of a whole index), never as a selective index scan."""
    sql, params = _search_sql(user, term)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return _index_scans(plan[0]["Plan"])


@pytest.mark.parametrize(
    ("term", "matches"),
    [
        ("王小美", 4),  # substring: 王小美 and 王小美子
        ("小美", 40),  # two characters: start or end (X小美, not X小美子)
        ("王", 40),  # one: prefix
    ],
)
def test_name_search_is_served_by_the_trigram_index(operator, many_members, term, matches):
    assert Member.objects.filter(name__contains=term).count() >= matches // 2
    scans = [s for s in _explain(operator, term) if s["Index Name"] == "member_name_trgm"]
    assert scans, f"{term}: the name condition is not answered from member_name_trgm"
    # Selective: the index hands back about the matching rows, not all 400 to re-check (a few
    # more may be dead rows of earlier tests).
    assert sum(s["Actual Rows"] for s in scans) <= matches * 2 + 10


def test_last_four_digits_are_served_by_their_index(operator, many_members):
    scans = _explain(operator, "0123")
    assert [s["Index Name"] for s in scans] == ["member_phone_last4"]
    # One member matches; a few more index entries may be dead rows of earlier tests.
    assert scans[0]["Actual Rows"] < 10
