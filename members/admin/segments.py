"""Segments in the admin: the visual rule builder with a live count, "Count now", and the rule
parts of the tag admin (the "Apply rules now" action). Operators only: guides work their
store's members, not the brand's audiences.

Writes go through members.services.segments; the forms run the services' own tree check first,
so a bad tree comes back on the form with each faulty node's path and nothing is saved.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from members.admin.base import guide_restricted
from members.admin.rule_builder import RuleBuilderWidget
from members.identity import phone_mask
from members.models import Segment
from members.segments import TreeError, segment_members, tree_explain, tree_parse
from members.selectors import member_should_mask
from members.services.segments import (
    rule_tag_apply,
    segment_count_refresh,
    segment_create,
    segment_tree_check,
    segment_update,
)

# Members shown under the live count: enough to see the rule picks the right people.
SAMPLE_SIZE = 5


def tree_form_check(tree) -> None:
    """The services' tree check as a form error: one message per faulty node, with its path."""
    if tree is None:
        return
    try:
        segment_tree_check(tree)
    except ValidationError as exc:
        raise forms.ValidationError(exc.message_dict.get("tree") or exc.messages) from exc


def tree_evaluate(tree, *, actor) -> dict:
    """What the builder shows next to the tree: the count, the tree read aloud in the active
    language and the newest few matching members (as the API's evaluate, for the admin).
    Raises TreeError for a bad tree."""
    node = tree_parse(tree)
    members = segment_members(node)
    rows = members.order_by("-pk").values("pk", "name", "phone", "tier__name")[:SAMPLE_SIZE]
    mask = member_should_mask(actor)
    return {
        "count": members.count(),
        "explanation": tree_explain(node),
        "sample": [
            {
                "id": row["pk"],
                "name": row["name"],
                "phone": phone_mask(row["phone"]) if mask else row["phone"],
                "tier": row["tier__name"] or "",
                "url": reverse("admin:members_member_change", args=[row["pk"]]),
            }
            for row in rows
        ],
    }


def may_evaluate(request) -> bool:
    """Operators who edit segments or rule tags may ask for live counts."""
    user = request.user
    return (
        user.is_active
        and user.is_staff
        and not guide_restricted(request)
        and (user.has_perm("members.view_segment") or user.has_perm("members.change_tag"))
    )


def _tree_errors(errors: list[dict], status: int = 400) -> JsonResponse:
    return JsonResponse(
        {
            "tree": [f"{e['path']}: {e['message']}" for e in errors],
            "errors": [{"path": e["path"], "message": str(e["message"])} for e in errors],
        },
        status=status,
    )


@require_POST
def evaluate_view(request):
    """POST {"tree": ...} → {"count", "explanation", "sample"}, or 400 {"tree": ["path:
    message"], "errors": [{"path", "message"}]}. CSRF-protected by admin_view."""
    if not may_evaluate(request):
        return JsonResponse({"detail": _("Only operators may evaluate rules.")}, status=403)
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _tree_errors([{"path": "tree", "message": _("The request is not valid JSON.")}])
    if not isinstance(data, dict) or "tree" not in data:
        return _tree_errors([{"path": "tree", "message": _("A rule tree is required.")}])
    try:
        return JsonResponse(tree_evaluate(data["tree"], actor=request.user))
    except TreeError as exc:
        return _tree_errors(exc.errors)


# --- segments --------------------------------------------------------------------------------


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ("name", "description", "tree")
        widgets = {"tree": RuleBuilderWidget()}

    def clean_tree(self):
        tree = self.cleaned_data.get("tree")
        tree_form_check(tree)
        return tree


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "cached_count", "counted_at", "owner", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("name",)
    readonly_fields = ("cached_count", "counted_at", "owner", "created_at", "updated_at")
    actions = ("count_now",)
    change_form_template = "admin/members/segment/change_form.html"

    # --- operators only ------------------------------------------------------------------

    def has_module_permission(self, request):
        return not guide_restricted(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return not guide_restricted(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not guide_restricted(request) and super().has_delete_permission(request, obj)

    # --- the form ------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ("name", "description")}),
            (
                gettext_lazy("Rules"),
                {
                    "fields": ("tree",),
                    "description": gettext_lazy(
                        "Members matching these rules form the segment. The count on the "
                        "right follows your changes; relative dates move with the calendar."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    gettext_lazy("Last count"),
                    {"fields": ("cached_count", "counted_at", "owner", "created_at", "updated_at")},
                )
            )
        return fieldsets

    def save_model(self, request, obj, form, change):
        """Through segment_create / segment_update (they count the segment when its tree is
        new); the form ran their checks, and the admin's transaction keeps it all or nothing."""
        values = {f: form.cleaned_data[f] for f in ("name", "description", "tree")}
        if change:
            # A fresh copy: the form already put the new values on ``obj``, and the service
            # decides whether to recount by comparing the tree with the saved one.
            segment = segment_update(segment=Segment.objects.get(pk=obj.pk), **values)
        else:
            segment = segment_create(owner=request.user, **values)
        for field in Segment._meta.concrete_fields:
            setattr(obj, field.attname, getattr(segment, field.attname))
        obj._state.adding = False

    # --- counting ------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Count now"), permissions=["change"])
    def count_now(self, request, queryset):
        counted = 0
        for segment in queryset:
            try:
                segment_count_refresh(segment=segment)
            except TreeError as exc:  # a tag its tree names was deleted since
                self.message_user(request, _count_error(segment, exc), messages.ERROR)
                continue
            counted += 1
        if counted:
            self.message_user(
                request,
                ngettext("Counted %(n)d segment.", "Counted %(n)d segments.", counted)
                % {"n": counted},
                messages.SUCCESS,
            )

    def count_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:members_segment_change", args=[object_id]))
        segment = get_object_or_404(Segment, pk=object_id)
        if not self.has_change_permission(request, segment):
            raise PermissionDenied
        try:
            segment = segment_count_refresh(segment=segment)
        except TreeError as exc:
            self.message_user(request, _count_error(segment, exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:members_segment_change", args=[segment.pk]))
        self.message_user(
            request,
            _("“%(name)s” has %(count)s members now.")
            % {"name": segment.name, "count": segment.cached_count},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:members_segment_change", args=[segment.pk]))

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("evaluate/", view(evaluate_view), name=f"{info}_evaluate"),
            path("<int:object_id>/count/", view(self.count_view), name=f"{info}_count"),
            *super().get_urls(),
        ]


def _count_error(segment: Segment, exc: TreeError) -> str:
    return _("“%(name)s” cannot be counted: %(error)s") % {"name": segment.name, "error": exc}


# --- rule tags (used by members.admin.tags) ---------------------------------------------------


def has_apply_rules_permission(self, request) -> bool:
    return not guide_restricted(request) and request.user.has_perm("members.change_tag")


@admin.action(description=gettext_lazy("Apply rules now"), permissions=["apply_rules"])
def apply_tag_rules(modeladmin, request, queryset):
    """Re-materialise the selected rule tags now (each set-based, in its own transaction);
    plain tags among the selection are skipped."""
    tags = list(queryset.filter(rule__isnull=False).select_related("group").order_by("pk"))
    skipped = queryset.filter(rule__isnull=True).count()
    added = removed = applied = 0
    for tag in tags:
        result = rule_tag_apply(tag=tag)
        if "error" in result:
            # Say which rule failed and why (it is kept on the tag too); apply the others.
            modeladmin.message_user(
                request,
                _("The rule of “%(tag)s” cannot be applied: %(error)s")
                % {"tag": tag, "error": result["error"]},
                messages.ERROR,
            )
            continue
        added += result["added"]
        removed += result["removed"]
        applied += 1
    if applied:
        modeladmin.message_user(
            request,
            ngettext(
                "Applied %(n)d rule: %(added)d members tagged, %(removed)d untagged.",
                "Applied %(n)d rules: %(added)d members tagged, %(removed)d untagged.",
                applied,
            )
            % {"n": applied, "added": added, "removed": removed},
            messages.SUCCESS,
        )
    if skipped:
        modeladmin.message_user(
            request,
            ngettext(
                "%(n)d selected tag has no rule and was left alone.",
                "%(n)d selected tags have no rule and were left alone.",
                skipped,
            )
            % {"n": skipped},
            messages.WARNING,
        )
