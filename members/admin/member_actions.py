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
ACTION_TEMPLATE = "admin/members/member/action_form.html"


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


def selection_size(request, queryset) -> int:
    """How many members an action applies to: the ticked rows, or with "select across" the
    whole filtered list (estimated on PostgreSQL when large, as the list's count is)."""
    if request.POST.get("select_across") == "1":
        return EstimatedCountPaginator(queryset, 1).count
    return queryset.count()


def action_page(
    modeladmin,
    request,
    queryset,
    *,
    action,
    title,
    form,
    extra=None,
    count=None,
    template=ACTION_TEMPLATE,
):
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
        "count": selection_size(request, queryset) if count is None else count,
        "media": modeladmin.media + form.media,
        **(extra or {}),
    }
    return TemplateResponse(request, template, context)


def bound_form(form_class, request, **kwargs):
    """The action's form, bound to the POST once its page was submitted ("apply")."""
    return form_class(request.POST if APPLY in request.POST else None, **kwargs)


def form_action(modeladmin, request, queryset, *, form, action, title, apply, extra=None):
    """What every action with a form does: once its page was submitted with a valid form,
    ``apply(cleaned_data)`` runs the service and says what it did (a ValidationError it raises
    becomes an error message) and the list is shown again; otherwise the page is shown."""
    if form.is_bound and form.is_valid():
        try:
            apply(form.cleaned_data)
        except ValidationError as exc:
            modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)
        return None
    return action_page(
        modeladmin, request, queryset, action=action, title=title, form=form, extra=extra
    )


@admin.action(description=_("Tag selected members"), permissions=["tag"])
def tag_members(modeladmin, request, queryset):
    def apply(data):
        tag = data["tag"]
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

    return form_action(
        modeladmin,
        request,
        queryset,
        form=bound_form(TagChoiceForm, request),
        action="tag_members",
        title=_("Tag members"),
        apply=apply,
    )


@admin.action(description=_("Remove tags from selected members"), permissions=["untag"])
def untag_members(modeladmin, request, queryset):
    def apply(data):
        count = members_untag(members=queryset, tags=data["tags"], actor=request.user)
        modeladmin.message_user(
            request,
            ngettext("Removed %(n)d tag.", "Removed %(n)d tags.", count) % {"n": count},
        )

    return form_action(
        modeladmin,
        request,
        queryset,
        form=bound_form(TagsChoiceForm, request),
        action="untag_members",
        title=_("Remove tags from members"),
        apply=apply,
    )


@admin.action(description=_("Assign a guide to selected members"), permissions=["assign_guide"])
def assign_guide(modeladmin, request, queryset):
    def apply(data):
        guide = data["guide"]
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

    return form_action(
        modeladmin,
        request,
        queryset,
        form=bound_form(GuideChoiceForm, request),
        action="assign_guide",
        title=_("Assign a guide"),
        apply=apply,
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

    def apply(data):
        survivor = next(m for m in members if m.pk == data["survivor"])
        merged = next(m for m in members if m.pk != data["survivor"])
        member_merge(survivor=survivor, merged=merged, actor=request.user)
        modeladmin.message_user(
            request,
            _("Member #%(merged)d was merged into #%(survivor)d.")
            % {"merged": merged.pk, "survivor": survivor.pk},
        )

    return form_action(
        modeladmin,
        request,
        queryset,
        form=bound_form(SurvivorForm, request, members=members),
        action="merge_members",
        title=_("Merge two members"),
        apply=apply,
        extra={
            "members": members,
            "merge_note": _(
                "Orders, tags, events, points, coupons and consents move to the member you "
                "keep; the other one stays as a record pointing to it. This cannot be undone."
            ),
        },
    )
