"""The admin rule builder: segments built and counted in the admin, the live evaluate view,
operators only; rule tags set with the same builder and applied with an admin action."""

import json

import pytest
from django.contrib.admin import helpers
from django.test import Client
from django.urls import reverse

from members.choices import TagSource
from members.models import Member, MemberTag, Segment, Tag
from members.services.segments import rule_tag_refresh, segment_create, tag_rule_set
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db

ADD = reverse("admin:members_segment_add")
CHANGELIST = reverse("admin:members_segment_changelist")
EVALUATE = reverse("admin:members_segment_evaluate")
TAGS = reverse("admin:members_tag_changelist")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def gold_tree(tier):
    return {"all": [{"field": "tier", "op": "in", "value": [tier.code]}]}


@pytest.fixture
def gold(db):
    return factories.TierFactory(code="gold", name="金卡")


@pytest.fixture
def gold_members(gold):
    return factories.MemberFactory.create_batch(2, tier=gold)


def evaluate(client, tree, **extra):
    return client.post(
        EVALUATE, json.dumps({"tree": tree}), content_type="application/json", **extra
    )


def builder_config(response):
    """The JSON the widget hands its script (json_script), parsed."""
    html = response.content.decode()
    marker = 'id="id_tree-rule-builder" type="application/json">'
    if marker not in html:
        marker = 'id="id_rule-rule-builder" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


# --- the segment form ------------------------------------------------------------------------


def test_add_page_renders_the_builder_with_the_catalogue_and_tags(operator_admin):
    tag = factories.TagFactory(name="敏感肌")
    response = operator_admin.get(ADD, **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-rule-builder="id_tree-rule-builder"' in html
    assert "members/rule_builder.js" in html and "members/rule_builder.css" in html
    assert reverse("admin:members_segment_evaluate") in html
    config = builder_config(response)
    fields = {f["name"]: f for f in config["catalogue"]}
    assert {"tier", "tags", "age", "joined", "consent"} <= set(fields)
    assert fields["tier"]["label"] == "tier"
    assert [t for t in config["tags"] if t["value"] == tag.pk] == [
        {
            "value": tag.pk,
            "label": f"{tag.group.name}: 敏感肌",
            "group": tag.group.name,
            "name": "敏感肌",
        }
    ]
    assert config["labels"]["add_condition"] == "Add condition"


def test_catalogue_and_labels_follow_the_operators_language(operator_admin):
    chinese = builder_config(operator_admin.get(ADD, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    english = builder_config(operator_admin.get(ADD, **EN))
    names = [f["name"] for f in english["catalogue"]]
    assert [f["name"] for f in chinese["catalogue"]] == names
    tier = names.index("tier")
    # Rendered in the request's language (the words themselves come from the locale files).
    assert english["catalogue"][tier]["label"] == "tier"
    assert chinese["catalogue"][tier]["label"] != "tier"
    assert set(chinese["labels"]) == set(english["labels"])


def test_posting_a_valid_tree_creates_the_segment_with_its_count(
    operator_admin, operator, gold, gold_members
):
    factories.MemberFactory()  # no tier
    response = operator_admin.post(
        ADD, {"name": " 金卡会员 ", "description": "VIP", "tree": json.dumps(gold_tree(gold))}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    segment = Segment.objects.get()
    assert segment.name == "金卡会员"
    assert segment.tree == gold_tree(gold)
    assert segment.cached_count == 2
    assert segment.counted_at is not None
    assert segment.owner == operator


def test_a_bad_tree_comes_back_with_the_nodes_error_and_nothing_is_saved(operator_admin, gold):
    tree = {"all": [gold_tree(gold), {"field": "age", "op": "gte", "value": "old"}]}
    response = operator_admin.post(ADD, {"name": "bad", "tree": json.dumps(tree)}, **EN)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["tree"]
    assert any(e.startswith("all[1].value: ") for e in errors)
    assert "all[1].value: " in response.content.decode()
    # The operator's tree is kept in the form, for the builder to draw again.
    assert json.loads(response.context["adminform"].form["tree"].value()) == tree
    assert not Segment.objects.exists()


def test_unknown_field_and_invalid_json_are_form_errors(operator_admin):
    response = operator_admin.post(
        ADD, {"name": "x", "tree": json.dumps({"all": [{"field": "nope", "op": "in"}]})}
    )
    assert "all[0].field: " in response.context["adminform"].form.errors["tree"][0]
    response = operator_admin.post(ADD, {"name": "x", "tree": "{not json"})
    assert response.context["adminform"].form.errors["tree"]
    assert not Segment.objects.exists()


def test_a_duplicate_name_is_a_form_error(operator_admin, gold):
    segment_create(name="金卡", tree=gold_tree(gold))
    response = operator_admin.post(ADD, {"name": "金卡", "tree": json.dumps(gold_tree(gold))})
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    assert Segment.objects.count() == 1


def test_changing_the_tree_recounts_through_the_service(operator_admin, gold, gold_members):
    segment = segment_create(name="everyone", tree={"all": []})
    assert segment.cached_count == 2
    factories.MemberFactory()
    url = reverse("admin:members_segment_change", args=[segment.pk])
    page = operator_admin.get(url)
    assert page.status_code == 200
    assert 'data-rule-builder="id_tree-rule-builder"' in page.content.decode()
    response = operator_admin.post(
        url, {"name": "gold", "description": "", "tree": json.dumps(gold_tree(gold))}
    )
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.tree, segment.cached_count) == ("gold", gold_tree(gold), 2)


def test_count_now_action_and_button(operator_admin, gold, gold_members):
    segment = segment_create(name="gold", tree=gold_tree(gold))
    factories.MemberFactory(tier=gold)
    response = operator_admin.post(
        CHANGELIST,
        {"action": "count_now", helpers.ACTION_CHECKBOX_NAME: [segment.pk]},
    )
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.cached_count == 3

    factories.MemberFactory(tier=gold)
    change = reverse("admin:members_segment_change", args=[segment.pk])
    assert (
        reverse("admin:members_segment_count", args=[segment.pk])
        in operator_admin.get(change).content.decode()
    )
    response = operator_admin.post(reverse("admin:members_segment_count", args=[segment.pk]))
    assert response.status_code == 302 and response.url == change
    segment.refresh_from_db()
    assert segment.cached_count == 4


def test_counting_a_segment_whose_tag_was_deleted_says_so_instead_of_failing(operator_admin):
    tag = factories.TagFactory()
    segment = segment_create(
        name="tagged", tree={"all": [{"field": "tags", "op": "has_any", "value": [tag.pk]}]}
    )
    tag.delete()
    count_url = reverse("admin:members_segment_count", args=[segment.pk])
    for response in (
        operator_admin.post(
            CHANGELIST,
            {"action": "count_now", helpers.ACTION_CHECKBOX_NAME: [segment.pk]},
            follow=True,
            **EN,
        ),
        operator_admin.post(count_url, follow=True, **EN),
    ):
        assert response.status_code == 200
        assert "cannot be counted" in response.content.decode()


def test_guides_get_no_segments(guide_admin, gold):
    segment = segment_create(name="gold", tree=gold_tree(gold))
    assert guide_admin.get(CHANGELIST).status_code == 403
    assert guide_admin.get(ADD).status_code == 403
    change = reverse("admin:members_segment_change", args=[segment.pk])
    assert guide_admin.get(change).status_code in (302, 403)
    count = guide_admin.post(reverse("admin:members_segment_count", args=[segment.pk]))
    assert count.status_code == 403
    index = guide_admin.get(reverse("admin:index"))
    assert CHANGELIST not in index.content.decode()


# --- the live evaluate view ------------------------------------------------------------------


def test_evaluate_returns_count_explanation_and_a_sample(operator_admin, gold, gold_members):
    factories.MemberFactory()
    response = evaluate(operator_admin, gold_tree(gold), **EN)
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2
    assert data["explanation"].startswith("All of:")
    assert "金卡" in data["explanation"]
    assert len(data["sample"]) == 2
    newest = gold_members[-1]
    assert data["sample"][0] == {
        "id": newest.pk,
        "name": newest.name,
        "phone": newest.phone,  # operators see full numbers
        "tier": "金卡",
        "url": reverse("admin:members_member_change", args=[newest.pk]),
    }


def test_evaluate_sample_is_at_most_five(operator_admin):
    factories.MemberFactory.create_batch(7)
    data = evaluate(operator_admin, {"all": []}).json()
    assert data["count"] == 7
    assert len(data["sample"]) == 5


def test_evaluate_a_bad_tree_is_a_400_with_paths(operator_admin, gold):
    tree = {"any": [gold_tree(gold), {"not": {"field": "tags", "op": "has_any", "value": [999]}}]}
    response = evaluate(operator_admin, tree)
    assert response.status_code == 400
    data = response.json()
    assert [e["path"] for e in data["errors"]] == ["any[1].not.value"]
    assert data["tree"][0].startswith("any[1].not.value: ")


def test_evaluate_rejects_bodies_without_a_tree(operator_admin):
    response = operator_admin.post(EVALUATE, "{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "tree"
    response = operator_admin.post(EVALUATE, "[]", content_type="application/json")
    assert response.status_code == 400
    assert operator_admin.get(EVALUATE).status_code == 405


def test_evaluate_is_for_operators_only(guide_admin, gold):
    assert evaluate(guide_admin, gold_tree(gold)).status_code == 403
    anonymous = evaluate(Client(), gold_tree(gold))
    assert anonymous.status_code == 302
    assert reverse("admin:login") in anonymous.url


def test_evaluate_is_csrf_protected(operator, roles, gold):
    operator.groups.add(roles["operators"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert evaluate(client, gold_tree(gold)).status_code == 403
    client.get(ADD)  # sets the CSRF cookie, as the page does for its script
    token = client.cookies["csrftoken"].value
    assert evaluate(client, gold_tree(gold), HTTP_X_CSRFTOKEN=token).status_code == 200


# --- rule tags ---------------------------------------------------------------------------------


def tag_url(tag):
    return reverse("admin:members_tag_change", args=[tag.pk])


def tag_post(tag, rule):
    return {
        "group": tag.group_id,
        "name": tag.name,
        "sort": tag.sort,
        "rule": "" if rule is None else json.dumps(rule),
    }


def test_tag_page_has_the_builder_and_rule_stats(operator_admin):
    tag = factories.TagFactory()
    response = operator_admin.get(tag_url(tag), **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-rule-builder="id_rule-rule-builder"' in html
    assert 'data-optional="1"' in html
    assert "members added last time" in html.lower()
    assert "rule last applied" in html.lower()


def test_guides_do_not_see_tag_rules(guide_admin):
    tag = factories.TagFactory()
    response = guide_admin.get(tag_url(tag))
    assert response.status_code == 200
    assert "data-rule-builder" not in response.content.decode()
    response = guide_admin.post(
        TAGS, {"action": "apply_tag_rules", helpers.ACTION_CHECKBOX_NAME: [tag.pk]}
    )
    assert not MemberTag.objects.exists()


def test_tag_rule_is_saved_and_applied_by_the_action(operator_admin, gold, gold_members):
    other = factories.MemberFactory()
    tag = factories.TagFactory()
    plain = factories.TagFactory()
    response = operator_admin.post(tag_url(tag), tag_post(tag, gold_tree(gold)))
    assert response.status_code == 302
    tag.refresh_from_db()
    assert tag.rule == gold_tree(gold)

    response = operator_admin.post(
        TAGS,
        {"action": "apply_tag_rules", helpers.ACTION_CHECKBOX_NAME: [tag.pk, plain.pk]},
        follow=True,
        **EN,
    )
    assert set(MemberTag.objects.filter(tag=tag).values_list("member_id", "source")) == {
        (m.pk, TagSource.RULE) for m in gold_members
    }
    assert not MemberTag.objects.filter(member=other).exists()
    texts = [str(m) for m in response.context["messages"]]
    assert "Applied 1 rule: 2 members tagged, 0 untagged." in texts
    assert "1 selected tag has no rule and was left alone." in texts
    tag.refresh_from_db()
    assert (tag.rule_added, tag.rule_removed) == (2, 0)
    assert tag.rule_refreshed_at is not None


def test_clearing_a_tag_rule_takes_back_the_rule_made_tags(operator_admin, gold, gold_members):
    tag = factories.TagFactory()
    tag_rule_set(tag=tag, tree=gold_tree(gold))
    rule_tag_refresh(tag=tag)
    hand = factories.MemberFactory()
    members_tag(members=Member.objects.filter(pk=hand.pk), tag=tag)
    assert MemberTag.objects.filter(tag=tag).count() == 3
    response = operator_admin.post(tag_url(tag), tag_post(tag, None))
    assert response.status_code == 302
    tag.refresh_from_db()
    assert tag.rule is None
    # Only the tag put on by hand is left.
    assert list(MemberTag.objects.filter(tag=tag).values_list("member_id", flat=True)) == [hand.pk]


def test_a_bad_tag_rule_is_a_form_error_and_nothing_changes(operator_admin):
    tag = factories.TagFactory(name="old")
    data = tag_post(tag, {"all": [{"field": "tags", "op": "has_any", "value": [424242]}]})
    data["name"] = "new"
    response = operator_admin.post(tag_url(tag), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rule"][0].startswith("all[0].value: ")
    tag.refresh_from_db()
    assert (tag.name, tag.rule) == ("old", None)


def test_a_new_tag_can_be_created_with_a_rule(operator_admin, gold):
    group = factories.TagGroupFactory()
    response = operator_admin.post(
        reverse("admin:members_tag_add"),
        {"group": group.pk, "name": "金卡", "sort": 0, "rule": json.dumps(gold_tree(gold))},
    )
    assert response.status_code == 302
    assert Tag.objects.get(name="金卡").rule == gold_tree(gold)


# --- smoke: the page's config drives a live count; values the builder must not break -----------


def test_builder_page_config_drives_a_live_count(operator_admin, gold, gold_members):
    """What the script does on the page, without a browser: read the config the page embeds,
    build a tree from its fields and operators, post it to the page's evaluate URL."""
    factories.MemberFactory()  # no tier
    response = operator_admin.get(ADD, **EN)
    html = response.content.decode()
    config = builder_config(response)
    fields = {f["name"]: f for f in config["catalogue"]}
    assert {"kind", "operators", "choices", "label", "group"} <= set(fields["tier"])
    assert {"op": "in", "label": "is one of"} in fields["tier"]["operators"]
    assert [o["op"] for o in fields["tags"]["operators"]] == ["has_any", "has_all", "has_none"]
    ahead = fields["expected_next_purchase"]
    assert ahead["kind"] == "date" and "within_next_days" in [o["op"] for o in ahead["operators"]]
    assert set(config["labels"]) >= {"members", "counting", "days", "errors"}

    evaluate_url = html.split('data-evaluate-url="', 1)[1].split('"', 1)[0]
    assert evaluate_url == EVALUATE
    tier = fields["tier"]
    gold_choice = next(c["value"] for c in tier["choices"] if c["label"] == "金卡")
    tree = {
        "all": [
            {"field": "tier", "op": tier["operators"][0]["op"], "value": [gold_choice]},
            {"field": "expected_next_purchase", "op": "is_not_set"},
        ]
    }
    data = evaluate(operator_admin, tree, **EN).json()
    assert data["count"] == 2
    assert data["explanation"].startswith("All of:")
    assert {row["id"] for row in data["sample"]} == {m.pk for m in gold_members}
    data = evaluate(operator_admin, {"all": []}).json()
    assert data["count"] == 3


@pytest.mark.parametrize(
    "condition, message",
    [
        (
            {"field": "joined", "op": "between", "value": ["2026-01-01", "9999-12-31"]},
            "A date from 1900-01-01 to 9998-12-31 is required.",
        ),
        (
            {"field": "last_purchase", "op": "before", "value": "0001-01-01"},
            "A date from 1900-01-01 to 9998-12-31 is required.",
        ),
        (
            {"field": "tags", "op": "has_all", "value": [2**63]},
            "Tags are given by their ids, whole numbers from 1 to 9223372036854775807.",
        ),
    ],
)
def test_evaluate_values_no_database_holds_are_a_400_naming_the_node(
    operator_admin, gold, condition, message
):
    response = evaluate(operator_admin, {"any": [gold_tree(gold), condition]}, **EN)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "any[1].value", "message": message}]


def test_builder_draws_a_days_input_for_within_next_days():
    """rule_builder.js under Node: the value of "within the next … days" is a number of days
    (the server refuses a date), drawn as the other day operators are."""
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed")
    script = Path(__file__).resolve().parents[2] / "members/static/members/rule_builder.js"
    probe = f"""
        global.window = {{}};
        global.document = {{ readyState: "complete", querySelectorAll: () => [] }};
        require({json.dumps(str(script))});
        const rb = window.SCRMRuleBuilder, date = {{ kind: "date" }};
        console.log(JSON.stringify({{
            next: rb.shape(date, "within_next_days"),
            last: rb.shape(date, "within_last_days"),
            before: rb.shape(date, "before"),
            nextDefault: rb.defaultValue(date, "within_next_days"),
        }}));
    """
    out = subprocess.run([node, "-e", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {
        "next": "days",
        "last": "days",
        "before": "date",
        "nextDefault": 30,
    }


def test_a_failing_rule_is_shown_on_the_tag_list_with_its_reason(operator_admin, gold):
    doomed = factories.TagFactory(name="将删")
    broken = tag_rule_set(
        tag=factories.TagFactory(name="坏规则"),
        tree={"all": [{"field": "tags", "op": "has_any", "value": [doomed.pk]}]},
    )
    fine = tag_rule_set(tag=factories.TagFactory(name="好规则"), tree=gold_tree(gold))
    doomed.delete()

    response = operator_admin.post(
        TAGS,
        {"action": "apply_tag_rules", helpers.ACTION_CHECKBOX_NAME: [broken.pk, fine.pk]},
        follow=True,
        **EN,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("The rule of “") and "坏规则" in t for t in texts)
    # Only the rule that worked counts as applied.
    assert "Applied 1 rule: 0 members tagged, 0 untagged." in texts
    broken.refresh_from_db()
    assert broken.rule_error and broken.rule_failed_at

    listing = operator_admin.get(TAGS, **EN).content.decode()
    assert "rule failing" in listing.lower()
    page = operator_admin.get(tag_url(broken), **EN).content.decode()
    assert "rule error" in page.lower()
    assert broken.rule_error.split(":")[0] in page
