"""The "Erase selected members" action of the member list (PIPL erasure requests).

Operators holding members.erase_members only; shop guides never see it. Like Django's delete
action it first shows a confirmation page saying how many members will be erased; erasure goes
through members.services.privacy.member_erase, one transaction (and one audit row) per member.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.admin.base import guide_restricted
from members.admin.member_actions import action_page, selection_size
from members.services.privacy import REASON_MAX, member_erase

CONFIRMED = "post"
# Erasure answers one person's request at a time; a selection larger than this is almost
# certainly a mistake ("select all" on a filtered list), and would be irreversible.
ERASE_MAX = 100
LISTED = 20


class EraseForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=REASON_MAX,
        required=False,
        help_text=_("Kept in the audit log, e.g. the request's ticket number. No personal data."),
    )


def has_erase_permission(modeladmin, request) -> bool:
    """Operators with the erase permission; never a shop guide. MemberAdmin uses this as its
    has_erase_permission, which the action's ``permissions=["erase"]`` calls."""
    return not guide_restricted(request) and request.user.has_perm("members.erase_members")


@admin.action(description=_("Erase selected members"), permissions=["erase"])
def erase_members(modeladmin, request, queryset):
    count = selection_size(request, queryset)
    if count > ERASE_MAX:
        modeladmin.message_user(
            request,
            _("At most %(n)d members can be erased at once; %(count)d are selected.")
            % {"n": ERASE_MAX, "count": count},
            messages.WARNING,
        )
        return None
    form = EraseForm(request.POST if request.POST.get(CONFIRMED) == "yes" else None)
    if form.is_bound and form.is_valid():
        return _erase(modeladmin, request, queryset, reason=form.cleaned_data["reason"])
    return action_page(
        modeladmin,
        request,
        queryset,
        action="erase_members",
        title=_("Are you sure?"),
        form=form,
        count=count,
        template="admin/members/member/erase_confirmation.html",
        extra={"members": list(queryset.order_by("pk")[:LISTED]), "more": max(count - LISTED, 0)},
    )


def _erase(modeladmin, request, queryset, *, reason: str) -> None:
    erased, refused = 0, []
    for member in queryset.order_by("pk"):
        try:
            member_erase(member=member, actor=request.user, reason=reason)
        except ValidationError as exc:
            refused.extend(exc.messages)
        else:
            erased += 1
    modeladmin.message_user(
        request,
        ngettext("Erased %(n)d member.", "Erased %(n)d members.", erased) % {"n": erased},
    )
    for message in refused:
        modeladmin.message_user(request, message, messages.ERROR)
