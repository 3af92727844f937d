"""The member list's fast path (members.api.member_rows, member_json, renderers): one statement
per page, exactly the JSON, cursors and errors of the DRF machinery it replaces, on both
databases."""

from base64 import b64encode
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from members.api.base import NewestFirstPagination
from members.api.filters import MemberFilter
from members.api.serializers.members import MemberSerializer, member_api_queryset
from members.choices import ConsentChannel
from members.models import Member, MemberTag, Store
from members.services.members import consent_set
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/"


def _cursor(text: str) -> str:
    return b64encode(text.encode()).decode()


def _reference(url: str, queryset, *, mask: bool = False) -> bytes:
    """What the list answered before: DRF's CursorPagination over the filtered queryset and
    MemberSerializer, rendered by DRF's JSONRenderer."""
    request = Request(APIRequestFactory().get(url))
    paginator = NewestFirstPagination()
    page = paginator.paginate_queryset(queryset, request)
    members = member_api_queryset(Member.objects.filter(pk__in=[row["id"] for row in page]))
    rows = MemberSerializer(members.order_by("-pk"), many=True, context={"mask": mask}).data
    body = {
        "next": paginator.get_next_link(),
        "previous": paginator.get_previous_link(),
        "results": rows,
    }
    return JSONRenderer().render(body)


def _fill(member, *, store, guide, tier):
    """Everything a member can show: identities, stats, tags (one tagged on a whole second),
    consents on several channels, and a name that needs escaping."""
    whole_second = timezone.now().replace(microsecond=0)
    Member.objects.filter(pk=member.pk).update(
        name='王"小\\明\u2028\t\x01😀',
        guide=guide,
        tier=tier,
        home_store=store,
        birthday="1990-01-02",
        unionid=f"oUnion1234567890ab{member.pk:04d}",
        openid=f"oOpen1234567890ab{member.pk:04d}",
        wecom_external_userid=f"wmExternal1234567890{member.pk:04d}",
        email="xiaoming.wang@example.com",
        first_purchase_at=whole_second,
        last_purchase_at=timezone.now(),
        total_paid="1234.50",
        total_margin="-0.05",
        points_balance=42,
        order_count=3,
    )
    members_tag(members=Member.objects.filter(pk=member.pk), tag=factories.TagFactory())
    members_tag(members=Member.objects.filter(pk=member.pk), tag=factories.TagFactory())
    first = MemberTag.objects.filter(member=member).order_by("pk").first()
    MemberTag.objects.filter(pk=first.pk).update(created_at=whole_second)
    for channel in (ConsentChannel.WECOM, ConsentChannel.SMS, ConsentChannel.EMAIL):
        consent_set(member=member, channel=channel, granted=channel != ConsentChannel.EMAIL)


@pytest.fixture
def rich(store, guide):
    """Two full members, a bare one, and one of another store."""
    tier = factories.TierFactory(code="gold")
    full = factories.MemberFactory.create_batch(2, home_store=store)
    for member in full:
        _fill(member, store=store, guide=guide, tier=tier)
    bare = factories.MemberFactory(home_store=store, phone=None)
    other = factories.MemberFactory()
    return {"full": full, "bare": bare, "other": other, "tier": tier}


# --- the JSON, byte for byte --------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["", "?page_size=2", "?store={store}", "?store={store}&tier=gold", "?name=%E7%8E%8B"],
)
def test_list_is_byte_for_byte_what_drf_rendered(make_key_api, rich, store, query):
    """Fast path (exact filters), generic path (MemberFilter), on SQLite and PostgreSQL."""
    client = make_key_api("members:read")
    url = URL + query.format(store=store.code)
    response = client.get(url)
    assert response.status_code == 200
    queryset = MemberFilter(
        data=Request(APIRequestFactory().get(url)).query_params,
        queryset=Member.objects.filter(status="active"),
    ).qs
    assert response.content == _reference(url, queryset.values("id"))
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "zone", ["Asia/Shanghai", "UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"]
)
def test_datetimes_are_written_as_drf_writes_them_in_any_time_zone(make_key_api, rich, zone):
    """Summer and winter time, half-hour and negative offsets, "Z" for UTC, whole seconds, and
    Asia/Shanghai's summer time of 1986-91 (before the offset became fixed)."""
    member = rich["full"][0]
    Member.objects.filter(pk=member.pk).update(
        created_at=datetime(1988, 7, 1, 3, 4, 5, 600, tzinfo=UTC),
        updated_at=datetime(2024, 1, 15, 0, 0, 0, tzinfo=UTC),
        first_purchase_at=datetime(2024, 7, 15, 12, 30, 0, 1, tzinfo=UTC),
    )
    client = make_key_api("members:read")
    with timezone.override(zone):
        response = client.get(URL)
        assert response.content == _reference(URL, Member.objects.values("id"))


def test_guides_get_masked_json_as_the_serializer_masks(guide_api, rich):
    response = guide_api.get(URL)
    visible = Member.objects.filter(home_store=rich["full"][0].home_store)
    assert response.content == _reference(URL, visible.values("id"), mask=True)
    assert "xiaoming" not in response.content.decode()


def test_pretty_printed_and_browsable_output_still_work(operator_api, rich):
    compact = operator_api.get(URL).json()
    pretty = operator_api.get(URL, HTTP_ACCEPT="application/json; indent=4")
    assert pretty.content.startswith(b'{\n    "next"')
    assert pretty.json() == compact
    html = operator_api.get(URL, {"format": "api"})
    assert html.status_code == 200
    assert "xiaoming.wang@example.com" in html.content.decode()


# --- cursors ------------------------------------------------------------------------------------


def _walk(client, url):
    """Follow next links to the end, then previous links back; each page as (url, bytes)."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append((url, response.content))
        url = response.json()["next"]
    url = response.json()["previous"]
    while url:
        response = client.get(url)
        pages.append((url, response.content))
        url = response.json()["previous"]
    return pages


@pytest.mark.parametrize(
    "query", ["?page_size=3", "?page_size=3&store={store}", "?name=%E4%BC%9A%E5%91%98&page_size=3"]
)
def test_cursor_links_walk_as_drf_walked(operator_api, store, query):
    factories.MemberFactory.create_batch(10, home_store=store)
    factories.MemberFactory()  # another store
    url = URL + query.format(store=store.code)
    pages = _walk(operator_api, f"http://testserver{url}")
    assert len(pages) >= 6
    for page_url, content in pages:
        queryset = MemberFilter(
            data=Request(APIRequestFactory().get(page_url)).query_params,
            queryset=Member.objects.all(),
        ).qs
        assert content == _reference(page_url, queryset.values("id")), page_url


def test_hand_made_cursors_with_offsets_page_as_drf_did(operator_api, store):
    members = factories.MemberFactory.create_batch(9, home_store=store)
    middle = members[5].pk
    for raw in (f"o=2&p={middle}", f"o=1&r=1&p={middle}", "o=4", "r=1", f"p={middle}&r=1"):
        url = f"{URL}?page_size=3&cursor={_cursor(raw)}"
        assert operator_api.get(url).content == _reference(url, Member.objects.values("id")), raw


@pytest.mark.parametrize("position", ["abc", "1.5", "", "99999999999999999999"])
def test_a_cursor_whose_position_is_not_an_id_is_a_404_not_a_500(operator_api, member, position):
    response = operator_api.get(URL, {"cursor": _cursor(f"p={position}")})
    assert response.status_code == 404
    assert response.json() == operator_api.get(URL, {"cursor": "zzz"}).json()


# --- filters: validation as MemberFilter, nothing cached ---------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"store": "NOPE"},
        {"tier": "nope"},
        {"guide": "999999"},
        {"guide": "abc"},
        {"guide": "３"},
        {"source": "fax"},
        {"store": "NOPE", "tier": "nope"},
        {"store": "NOPE", "page_size": "5"},
    ],
)
def test_unknown_filter_values_are_the_filtersets_400(operator_api, member, query):
    response = operator_api.get(URL, query)
    assert response.status_code == 400
    form = MemberFilter(data=query, queryset=Member.objects.all())
    assert not form.is_valid()
    assert response.json() == {name: list(errors) for name, errors in form.errors.items()}


def test_an_unknown_code_is_a_400_before_a_bad_cursor_is_a_404(operator_api, member):
    response = operator_api.get(URL, {"store": "NOPE", "cursor": "zzz"})
    assert response.status_code == 400
    assert "store" in response.json()


def test_a_known_store_without_members_is_an_empty_page(operator_api, member):
    empty = factories.StoreFactory()
    body = operator_api.get(URL, {"store": empty.code}).json()
    assert body == {"next": None, "previous": None, "results": []}


def test_a_new_store_or_tier_is_found_at_once_and_a_renamed_code_is_gone(operator_api, member):
    assert operator_api.get(URL, {"store": "NEW1"}).status_code == 400
    store = factories.StoreFactory(code="NEW1")
    tier = factories.TierFactory(code="vip")
    joined = factories.MemberFactory(home_store=store, tier=tier)
    found = operator_api.get(URL, {"store": "NEW1", "tier": "vip"}).json()["results"]
    assert [row["id"] for row in found] == [joined.pk]
    Store.objects.filter(pk=store.pk).update(code="NEW2")
    assert operator_api.get(URL, {"store": "NEW1"}).status_code == 400
    assert [row["id"] for row in operator_api.get(URL, {"store": "NEW2"}).json()["results"]] == [
        joined.pk
    ]


def test_repeated_or_empty_filters_mean_what_they_meant(operator_api, store, other_store):
    mine = factories.MemberFactory(home_store=store)
    theirs = factories.MemberFactory(home_store=other_store)

    def ids(query):
        return [row["id"] for row in operator_api.get(f"{URL}?{query}").json()["results"]]

    assert ids("store=") == [theirs.pk, mine.pk]  # an empty filter is no filter
    assert ids(f"store={other_store.code}&store={store.code}") == [mine.pk]  # the last one
    assert ids(f"source=miniprogram&store={store.code}") == [mine.pk]


# --- queries ------------------------------------------------------------------------------------


def test_an_api_key_page_is_the_key_lookup_and_one_statement(
    make_key_api, rich, store, django_assert_num_queries
):
    client = make_key_api("members:read")
    queries = ({}, {"store": store.code, "tier": "gold"}, {"page_size": 1})
    for query in queries:
        # The key's last_used_at is touched at most once a minute; on PostgreSQL the planner's
        # statistics that choose a page's index are read once every few minutes.
        client.get(URL, query)
    for query in queries:
        with django_assert_num_queries(2):
            assert client.get(URL, query).status_code == 200
    with django_assert_num_queries(2):
        assert len(client.get(URL, {"phone": rich["full"][0].phone}).json()["results"]) == 1


def test_lookup_by_phone_finds_only_what_the_caller_may_see(guide_api, store, other_store):
    mine = factories.MemberFactory(home_store=store, phone="+8613912345678")
    theirs = factories.MemberFactory(home_store=other_store, phone="+8613912345679")
    found = guide_api.get(URL, {"phone": "13912345678"}).json()["results"]
    assert [row["id"] for row in found] == [mine.pk]
    assert found[0]["phone"] == "139****5678"
    assert guide_api.get(URL, {"phone": theirs.phone}).json()["results"] == []


def test_prepared_statements_are_used_on_postgresql_only_where_enabled(make_key_api, member):
    """The page's statement runs prepared on PostgreSQL (DATABASES OPTIONS prepare_threshold),
    and the answers stay the same once it is."""
    client = make_key_api("members:read")
    first = client.get(URL).content
    for _ in range(8):
        assert client.get(URL).content == first
    if connection.vendor == "postgresql":
        enabled = connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None
        prepared = connection.connection.execute("SELECT count(*) FROM pg_prepared_statements")
        assert (prepared.fetchone()[0] >= 1) == enabled


def test_the_fixed_offset_shortcut_starts_after_the_last_change():
    from members.api.member_json import _fixed_offset

    since, offset = _fixed_offset("Asia/Shanghai")
    assert offset == timedelta(hours=8)
    assert datetime(1991, 9, 14, 16, 59, tzinfo=UTC) < since <= datetime(1991, 9, 15, tzinfo=UTC)
    assert _fixed_offset("Europe/Berlin") is None


# --- which index a page walks (PostgreSQL) ------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "walked"),
    [
        ({"home_store_id": 0.1, "tier_id": 0.145}, "home_store_id"),  # a common tier in a store
        ({"home_store_id": 0.1, "tier_id": 0.002}, "tier_id"),  # a rare tier: walk its index
        ({"home_store_id": 0.1, "tier_id": 0.0}, "tier_id"),  # a tier nobody has
        ({"home_store_id": 0.1, "tier_id": None}, "home_store_id"),  # no statistics yet
    ],
)
def test_a_page_walks_the_index_of_its_rarest_condition(monkeypatch, shares, walked):
    from members.api import member_page
    from members.api.member_page import Equals

    def share(condition):
        return shares[condition.column]

    monkeypatch.setattr(member_page, "_share", share)
    where = [
        Equals("status", "active"),
        Equals("home_store_id", 3),
        Equals("tier_id", "gold", "members_tier"),
    ]
    assert member_page._walked(where) == walked
    assert member_page._walked(where[:2]) == "home_store_id"  # one indexed condition: its own
    assert member_page._walked(where[:1]) is None


def test_shares_come_from_the_planners_statistics(monkeypatch):
    from members.api import member_page
    from members.api.member_page import Equals

    stats = {"tier_id": {"common": {1: 0.85, 2: 0.14}, "other": 0.01}}
    monkeypatch.setattr(member_page, "_column_stats", stats.get)
    ids = {"silver": 2, "gold": 3}
    monkeypatch.setattr(member_page, "_code_id", lambda table, code: ids.get(code))
    tier = "members_tier"
    assert member_page._share(Equals("tier_id", "silver", tier)) == 0.14
    assert member_page._share(Equals("tier_id", "gold", tier)) == 0.01
    assert member_page._share(Equals("tier_id", "nope", tier)) == 0.0
    assert member_page._share(Equals("home_store_id", 3)) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_statistics_and_codes_are_read_from_the_database(monkeypatch, store):
    from members.api import member_page
    from members.api.member_page import Equals

    monkeypatch.setattr(member_page, "_stats", {})
    monkeypatch.setattr(member_page, "_codes", {})
    gold, silver = factories.TierFactory(code="gold"), factories.TierFactory(code="silver")
    factories.MemberFactory.create_batch(9, home_store=store, tier=silver)
    factories.MemberFactory(home_store=store, tier=gold)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Member._meta.db_table}")
    assert member_page._share(Equals("tier_id", "silver", "members_tier")) == pytest.approx(0.9)
    assert member_page._share(Equals("tier_id", "gold", "members_tier")) == pytest.approx(0.1)
    assert member_page._share(Equals("tier_id", "none", "members_tier")) == 0.0
    where = [Equals("home_store_id", store.pk), Equals("tier_id", "gold", "members_tier")]
    assert member_page._walked(where) == "tier_id"


def test_a_time_filter_with_a_far_offset_is_read_in_utc(operator_api):
    # -23:41 is a valid ISO 8601 offset that PostgreSQL cannot take as it is.
    response = operator_api.get("/api/v1/members/", {"created_before": "2099-11-11T21:31:30-23:41"})
    assert response.status_code == 200
