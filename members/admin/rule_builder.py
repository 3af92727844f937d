"""The visual rule builder of the admin: a form widget for rule trees (segments, rule tags).

The submitted value stays the JSON tree in a textarea; members/static/members/rule_builder.js
draws groups and conditions from the field catalogue (members.segments) and keeps the textarea
in sync, and asks the admin's evaluate view for the live count and explanation as operators
edit. Without JavaScript the textarea is shown and edited as JSON.
"""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.translation import gettext as _

from members.models import Tag
from members.segments import segment_field_catalogue

EVALUATE_URL_NAME = "admin:members_segment_evaluate"


def tag_options() -> list[dict]:
    """Every tag as {"value", "label": "group: name", "group", "name"} for the tags picker,
    in the order the tag admin shows them (at most a few thousand: services.tags.MAX_TAGS)."""
    tags = Tag.objects.select_related("group").order_by(
        "group__sort", "group__name", "group_id", "sort", "name"
    )
    return [
        {
            "value": tag.pk,
            "label": f"{tag.group.name}: {tag.name}",
            "group": tag.group.name,
            "name": tag.name,
        }
        for tag in tags
    ]


def builder_labels() -> dict[str, str]:
    """The few words the script shows, in the active language (no JS catalogue needed)."""
    return {
        "all": _("All of the following"),
        "any": _("Any of the following"),
        "not": _("None of the following"),
        "add_condition": _("Add condition"),
        "add_group": _("Add group"),
        "remove": _("Remove"),
        "remove_group": _("Remove group"),
        "field": _("Field"),
        "operator": _("Operator"),
        "value": _("Value"),
        "and": _("and"),
        "days": _("days"),
        "yes": _("yes"),
        "no": _("no"),
        "filter_tags": _("Filter tags…"),
        "comma_hint": _("Separate values with commas"),
        "empty_group": _("No conditions yet."),
        "members": _("%(count)s members"),
        "counting": _("Counting…"),
        "failed": _("Could not count (%(status)s)."),
        "no_rule": _("No rule: a plain tag, put on by hand or by imports."),
        "errors": _("Fix these before saving:"),
        "sample": _("Latest matching members"),
        "name": _("name"),
        "phone": _("phone"),
        "tier": _("tier"),
        "bad_json": _("This JSON cannot be read; fix it below or clear it to start again."),
        "cannot_show": _("This rule cannot be shown in the builder; edit its JSON below."),
        "unknown_field": _("(unknown field)"),
    }


class RuleBuilderWidget(forms.Textarea):
    """A JSON textarea with the visual builder on top. ``optional``: an empty builder submits
    nothing (no rule, e.g. a plain tag) instead of the match-everyone ``{"all": []}``."""

    template_name = "admin/members/rule_builder.html"

    class Media:
        css = {"all": ("members/rule_builder.css",)}
        js = ("members/rule_builder.js",)

    def __init__(self, attrs=None, *, optional: bool = False):
        super().__init__(attrs={"rows": 8, "cols": 60, **(attrs or {})})
        self.optional = optional

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        key = context["widget"]["attrs"].get("id") or f"rule-builder-{name}"
        context["rule_builder"] = {
            "config_id": f"{key}-rule-builder",
            # Read by the script from a json_script tag: fields in the active language, tags.
            "config": {
                "catalogue": segment_field_catalogue(),
                "tags": tag_options(),
                "labels": builder_labels(),
            },
            "evaluate_url": reverse(EVALUATE_URL_NAME),
            "optional": self.optional,
        }
        return context
