"""Admin pages beyond the member list: every page renders, API keys, guides, roles, tags,
CSV import from the admin."""

import hashlib
import io

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from members.management.commands.setup_roles import OPERATORS, SHOP_GUIDES
from members.models import Guide, ImportJob, Member, Tag, TagGroup
from scrm.models import ApiKey
from tests import factories

pytestmark = pytest.mark.django_db

MODELS = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in ("members", "scrm")
)


@pytest.fixture
def superuser_admin():
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pass-1234")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("app_label", "model_name"), MODELS)
def test_every_page_renders(superuser_admin, app_label, model_name):
    member = factories.MemberFactory()
    factories.OrderFactory(member=member)
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    assert superuser_admin.get(changelist).status_code == 200
    assert superuser_admin.get(changelist, {"q": "x"}).status_code == 200
    add = superuser_admin.get(reverse(f"admin:{app_label}_{model_name}_add"))
    assert add.status_code in (200, 403)


def test_admin_speaks_chinese_by_default(operator_admin):
    html = operator_admin.get(reverse("admin:index")).content.decode()
    assert "SCRM 私域会员运营" in html
    assert "会员、标签、订单与权益" in html


def test_api_key_secret_is_shown_once_and_only_its_hash_stored(superuser_admin):
    response = superuser_admin.post(
        reverse("admin:scrm_apikey_add"),
        {"name": "POS 上海", "scopes": ["members:read", "orders:write"]},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    secret = next(m.split("<code>")[1].split("</code>")[0] for m in shown if "<code>" in m)
    prefix, _dot, raw = secret.partition(".")
    assert prefix == key.prefix
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in key.key_hash and key.scopes == ["members:read", "orders:write"]

    again = superuser_admin.get(reverse("admin:scrm_apikey_change", args=[key.pk]))
    assert raw not in again.content.decode()
    listing = superuser_admin.get(reverse("admin:scrm_apikey_changelist")).content.decode()
    assert key.prefix in listing and raw not in listing


def test_api_key_revoke_action(superuser_admin):
    from scrm.api.keys import api_key_create, api_key_verify

    key, secret = api_key_create(name="POS", scopes=["members:read"])
    superuser_admin.post(
        reverse("admin:scrm_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.pk], "index": "0"},
    )
    key.refresh_from_db()
    assert key.is_active is False
    assert api_key_verify(secret) is None


def test_creating_a_guide_creates_their_staff_login(operator_admin, store):
    response = operator_admin.post(
        reverse("admin:members_guide_add"),
        {
            "username": "guide.sh01.9",
            "password1": "Xiao-Mei-2024!",
            "password2": "Xiao-Mei-2024!",
            "store": store.pk,
            "name": "小美",
            "wecom_userid": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    guide = Guide.objects.select_related("user").get(name="小美")
    assert guide.store == store and guide.user.is_staff
    assert guide.user.check_password("Xiao-Mei-2024!")
    assert guide.user.groups.filter(name=SHOP_GUIDES).exists()

    factories.MemberFactory(home_store=store, name="本店会员")
    client = Client()
    client.force_login(guide.user)
    assert "本店会员" in client.get(reverse("admin:members_member_changelist")).content.decode()


def test_guide_creation_refuses_a_taken_login(operator_admin, store, operator):
    response = operator_admin.post(
        reverse("admin:members_guide_add"),
        {
            "username": operator.username.upper(),
            "password1": "Xiao-Mei-2024!",
            "password2": "Xiao-Mei-2024!",
            "store": store.pk,
            "name": "重名",
        },
    )
    assert response.status_code == 200
    assert "username" in response.context["adminform"].form.errors


def test_deactivating_a_guide_closes_their_login(operator_admin, guide):
    operator_admin.post(
        reverse("admin:members_guide_change", args=[guide.pk]),
        {"store": guide.store_id, "name": guide.name, "wecom_userid": ""},
    )
    guide.user.refresh_from_db()
    assert guide.user.is_active is False


def test_setup_roles_is_idempotent():
    call_command("setup_roles", stdout=io.StringIO())
    operators = Group.objects.get(name=OPERATORS)
    guides = Group.objects.get(name=SHOP_GUIDES)
    counts = (operators.permissions.count(), guides.permissions.count())
    call_command("setup_roles", stdout=io.StringIO())
    assert (operators.permissions.count(), guides.permissions.count()) == counts
    assert Group.objects.filter(name__in=[OPERATORS, SHOP_GUIDES]).count() == 2

    def codes(group):
        return set(group.permissions.values_list("codename", flat=True))

    assert {"export_members", "merge_members", "view_unmasked_phone"} <= codes(operators)
    assert {"view_member", "add_membertag", "delete_membertag"} <= codes(guides)
    assert not {"export_members", "merge_members", "view_unmasked_phone", "delete_member"} & codes(
        guides
    )


def test_setup_roles_puts_existing_guides_in_their_group(guide):
    call_command("setup_roles", stdout=io.StringIO())
    assert guide.user.groups.filter(name=SHOP_GUIDES).exists()


def test_setup_roles_reset_removes_hand_granted_permissions():
    from django.contrib.auth.models import Permission

    call_command("setup_roles", stdout=io.StringIO())
    guides = Group.objects.get(name=SHOP_GUIDES)
    guides.permissions.add(Permission.objects.get(codename="export_members"))
    call_command("setup_roles", stdout=io.StringIO())
    assert guides.permissions.filter(codename="export_members").exists()
    call_command("setup_roles", "--reset", stdout=io.StringIO())
    assert not guides.permissions.filter(codename="export_members").exists()


def test_tag_group_with_inline_tags(operator_admin):
    response = operator_admin.post(
        reverse("admin:members_taggroup_add"),
        {
            "name": "肤质",
            "multi_select": "",
            "description": "",
            "sort": "0",
            "tags-TOTAL_FORMS": "2",
            "tags-INITIAL_FORMS": "0",
            "tags-MIN_NUM_FORMS": "0",
            "tags-MAX_NUM_FORMS": "1000",
            "tags-0-name": "油性",
            "tags-0-sort": "0",
            "tags-1-name": "干性",
            "tags-1-sort": "1",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    group = TagGroup.objects.get(name="肤质")
    assert group.multi_select is False
    assert list(Tag.objects.filter(group=group).values_list("name", flat=True)) == ["油性", "干性"]


@pytest.fixture
def eager_imports(settings, tmp_path, monkeypatch):
    """Uploads stored in a folder of the test; import jobs run eagerly when their message is
    sent after commit (tests/members/test_admin_import_jobs.py covers the queue itself)."""
    from members import tasks

    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(tasks.events_dispatch, "delay", lambda ids: None)
    monkeypatch.setattr(
        tasks.import_job_run,
        "delay",
        lambda job_id: tasks.import_job_run.apply(args=(job_id,), throw=True),
    )


def test_import_members_from_the_admin(
    operator_admin, store, eager_imports, django_capture_on_commit_callbacks
):
    url = reverse("admin:members_member_import")
    assert operator_admin.get(url).status_code == 200
    content = f"phone,name,store\n138 1234 5678,王小美,{store.code}\n12345,坏行,\n".encode()
    upload = io.BytesIO(content)
    upload.name = "members.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_admin.post(url, {"file": upload, "encoding": "utf-8"})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:members_importjob_change", args=[job.pk])
    assert (job.status, job.created, job.bad_rows) == ("done", 1, 1)
    assert Member.objects.get(phone="+8613812345678").home_store == store
    page = operator_admin.get(response.url)
    assert page.context["errors_shown"][0][0] == 3


def test_import_refuses_an_unusable_file(
    operator_admin, eager_imports, django_capture_on_commit_callbacks
):
    upload = io.BytesIO(b"PK\x03\x04binary")
    upload.name = "members.xlsx"
    with django_capture_on_commit_callbacks(execute=True):
        operator_admin.post(
            reverse("admin:members_member_import"), {"file": upload, "encoding": "utf-8"}
        )
    job = ImportJob.objects.get()
    assert job.status == "failed" and job.message
    assert not Member.objects.exists()


def test_guides_cannot_import(guide_admin):
    assert guide_admin.get(reverse("admin:members_member_import")).status_code == 403
    assert guide_admin.get(reverse("admin:members_order_import")).status_code == 403


def test_guide_sees_only_own_store_orders(guide_admin, store, other_store):
    mine = factories.OrderFactory(member=factories.MemberFactory(home_store=store))
    factories.OrderFactory(member=factories.MemberFactory(home_store=other_store))
    response = guide_admin.get(reverse("admin:members_order_changelist"))
    assert [o.pk for o in response.context["cl"].result_list] == [mine.pk]


def test_import_orders_from_the_admin(
    operator_admin, eager_imports, django_capture_on_commit_callbacks
):
    member = factories.MemberFactory(phone="+8613812345678")
    url = reverse("admin:members_order_import")
    content = (
        "external_id,member_phone,paid_amount,paid_at\nA-1,13812345678,99.00,2024-05-01 10:00\n"
    )
    upload = io.BytesIO(content.encode())
    upload.name = "orders.csv"
    with django_capture_on_commit_callbacks(execute=True):
        operator_admin.post(url, {"file": upload, "encoding": "utf-8"})
    assert ImportJob.objects.get().created == 1
    member.refresh_from_db()
    assert member.order_count == 1
