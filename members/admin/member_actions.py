"""Bulk actions of the member list. Each is thin: a form on an intermediate page, then one
set-based service call over the selected queryset (never a loop over members)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.admin.paginator import EstimatedCountPaginator
from members.models import Guide, Tag
from members.services.exports import members_export_stream
from members.services.members import member_merge, members_assign_guide
from members.services.tags import members_tag, members_untag

APPLY = "apply"


class TagChoiceForm(forms.Form):
    tag = forms.ModelChoiceField(
        label=_("tag"), queryset=Tag.objects.select_related("group").order_by("group__sort")
    )


class TagsChoiceForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        label=_("tags"),
        queryset=Tag.objects.select_related("group").order_by("group__sort"),
        widget=forms.CheckboxSelectMultiple,
    )


class GuideChoiceForm(forms.Form):
    guide = forms.ModelChoiceField(
        label=_("owning guide"),
        queryset=Guide.objects.filter(is_active=True).select_related("store"),
        help_text=_("The members' home store becomes the guide's store."),
    )


class SurvivorForm(forms.Form):
    survivor = forms.TypedChoiceField(
        label=_("keep"), coerce=int, widget=forms.RadioSelect, choices=()
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [(m.pk, f"#{m.pk} {m}") for m in members]


def _selection_size(request, queryset) -> int:
    if request.POST.get("select_across") == "1":
        return EstimatedCountPaginator(queryset, 1).count
    return queryset.count()


def action_page(modeladmin, request, queryset, *, action, title, form, extra=None):
    """The intermediate page of an action: the form, and the selection carried along in hidden
    fields (ids of the page, "select across", the list's filters in the URL)."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "count": _selection_size(request, queryset),
        "media": modeladmin.media + form.media,
        **(extra or {}),
    }
    return TemplateResponse(request, "admin/members/member/action_form.html", context)


def _bound(form_class, request, **kwargs):
    return form_class(request.POST if APPLY in request.POST else None, **kwargs)


@admin.action(description=_("Tag selected members"), permissions=["tag"])
def tag_members(modeladmin, request, queryset):
    form = _bound(TagChoiceForm, request)
    if form.is_bound and form.is_valid():
        tag = form.cleaned_data["tag"]
        count = members_tag(members=queryset, tag=tag, actor=request.user)
        modeladmin.message_user(
            request,
            ngettext(
                "Tagged %(n)d member with “%(tag)s”.",
                "Tagged %(n)d members with “%(tag)s”.",
                count,
            )
            % {"n": count, "tag": tag},
        )
        return None
    return action_page(
        modeladmin, request, queryset, action="tag_members", title=_("Tag members"), form=form
    )


@admin.action(description=_("Remove tags from selected members"), permissions=["untag"])
def untag_members(modeladmin, request, queryset):
    form = _bound(TagsChoiceForm, request)
    if form.is_bound and form.is_valid():
        count = members_untag(members=queryset, tags=form.cleaned_data["tags"], actor=request.user)
        modeladmin.message_user(
            request,
            ngettext("Removed %(n)d tag.", "Removed %(n)d tags.", count) % {"n": count},
        )
        return None
    return action_page(
        modeladmin,
        request,
        queryset,
        action="untag_members",
        title=_("Remove tags from members"),
        form=form,
    )


@admin.action(description=_("Assign a guide to selected members"), permissions=["assign_guide"])
def assign_guide(modeladmin, request, queryset):
    form = _bound(GuideChoiceForm, request)
    if form.is_bound and form.is_valid():
        guide = form.cleaned_data["guide"]
        count = members_assign_guide(members=queryset, guide=guide, actor=request.user)
        modeladmin.message_user(
            request,
            ngettext(
                "%(n)d member now belongs to %(guide)s.",
                "%(n)d members now belong to %(guide)s.",
                count,
            )
            % {"n": count, "guide": guide},
        )
        return None
    return action_page(
        modeladmin, request, queryset, action="assign_guide", title=_("Assign a guide"), form=form
    )


@admin.action(description=_("Export selected members to CSV"), permissions=["export"])
def export_csv(modeladmin, request, queryset):
    filters = {
        "query": request.GET.urlencode(),
        "select_across": request.POST.get("select_across") == "1",
        "selected": len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)),
    }
    chunks = members_export_stream(members=queryset, actor=request.user, filters=filters)
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="members-{stamp}.csv"'
    return response


@admin.action(description=_("Merge two members"), permissions=["merge"])
def merge_members(modeladmin, request, queryset):
    members = list(queryset.order_by("pk")[:3])
    if len(members) != 2:
        modeladmin.message_user(
            request, _("Select exactly two members to merge."), messages.WARNING
        )
        return None
    form = _bound(SurvivorForm, request, members=members)
    if form.is_bound and form.is_valid():
        survivor_pk = form.cleaned_data["survivor"]
        survivor = next(m for m in members if m.pk == survivor_pk)
        merged = next(m for m in members if m.pk != survivor_pk)
        try:
            member_merge(survivor=survivor, merged=merged, actor=request.user)
        except ValidationError as exc:
            modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        modeladmin.message_user(
            request,
            _("Member #%(merged)d was merged into #%(survivor)d.")
            % {"merged": merged.pk, "survivor": survivor.pk},
        )
        return None
    return action_page(
        modeladmin,
        request,
        queryset,
        action="merge_members",
        title=_("Merge two members"),
        form=form,
        extra={
            "members": members,
            "merge_note": _(
                "Orders, tags, events, points, coupons and consents move to the member you "
                "keep; the other one stays as a record pointing to it. This cannot be undone."
            ),
        },
    )
