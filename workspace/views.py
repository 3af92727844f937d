"""The guide workspace's pages. Thin: each parses the request, checks who may do it, calls a
selector or a service of the app that owns the data, and renders a phone-sized page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import GuideTask
from campaigns.services.guide_tasks import guide_task_confirm, guide_tasks_open
from members.models import Member, Tag
from members.services.tags import members_tag, members_untag
from referrals.models import Referral
from referrals.services.codes import referral_code_for_guide, referral_link
from workspace import selectors
from workspace.access import guide_required

# Open tasks listed on the first page; a guide with more works through them oldest first.
TASKS_SHOWN = 50


def _page(request, template: str, context: dict, tab: str):
    """Render a workspace page with what every page's tab bar shows."""
    guide = request.user.guide
    context = {
        **context,
        "guide": guide,
        "tab": tab,
        "open_tasks": guide_tasks_open(guide=guide).count(),
    }
    return render(request, template, context)


@require_GET
@guide_required
def today(request):
    """Today's work: the messages campaigns asked this guide to send, oldest first."""
    tasks = list(
        guide_tasks_open(guide=request.user.guide).select_related("member", "touchpoint__campaign")[
            :TASKS_SHOWN
        ]
    )
    return _page(request, "workspace/today.html", {"tasks": tasks}, tab="today")


@require_POST
@guide_required
def task_confirm(request, pk: int):
    """The guide sent the task's message in WeCom: mark it sent (once; later taps change
    nothing). Another guide's task does not exist for them."""
    task = get_object_or_404(GuideTask, pk=pk, guide=request.user.guide)
    try:
        guide_task_confirm(task=task)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Marked as sent."))
    return redirect("workspace:today")


@require_GET
@guide_required
def customers(request):
    """The store's customers (or only mine), searched by name, phone, its last four digits or
    an id, newest first, a page at a time."""
    term = request.GET.get("q", "").strip()[:64]
    mine = request.GET.get("mine") == "1"
    before = request.GET.get("before")
    before = int(before) if before and before.isdigit() else None
    page = selectors.customers_page(request.user, term=term, mine=mine, before=before)
    return _page(
        request,
        "workspace/customers.html",
        {"page": page, "term": term, "mine": mine, "paged": before is not None},
        tab="customers",
    )


@require_GET
@guide_required
def customer(request, pk: int):
    """One customer: who they are (phone masked), what they bought, their tags as buttons."""
    member = selectors.customer_for(request.user, pk)
    context = {
        "member": member,
        "board": selectors.customer_tag_board(member),
        "can_tag": request.user.has_perm("members.add_membertag"),
        "can_untag": request.user.has_perm("members.delete_membertag"),
        **selectors.customer_history(member),
    }
    return _page(request, "workspace/customer.html", context, tab="customers")


@require_POST
@guide_required
def customer_tag(request, pk: int, tag_pk: int):
    """One tap on a tag: put it on the customer, or take it off if they have it. Rule tags
    are the rule's to change; a single-choice group swaps its tag (members.services.tags)."""
    member = selectors.customer_for(request.user, pk, to_show=False)
    tag = get_object_or_404(Tag.objects.select_related("group"), pk=tag_pk)
    if tag.rule is not None:
        raise Http404  # the page offers no button for it
    members = Member.objects.filter(pk=member.pk)
    if member.member_tags.filter(tag=tag).exists():
        if not request.user.has_perm("members.delete_membertag"):
            raise PermissionDenied
        members_untag(members=members, tags=[tag], actor=request.user)
        messages.success(request, _("“%(tag)s” removed.") % {"tag": tag.name})
    else:
        if not request.user.has_perm("members.add_membertag"):
            raise PermissionDenied
        members_tag(members=members, tag=tag, actor=request.user)
        messages.success(request, _("Tagged “%(tag)s”.") % {"tag": tag.name})
    return redirect(reverse("workspace:customer", args=[member.pk]) + "#tags")


@require_GET
@guide_required
def my_code(request):
    """The guide's own referral code (导购码), its link and poster: customers who sign up with
    it become this guide's customers."""
    guide = request.user.guide
    code = referral_code_for_guide(guide=guide)
    context = {
        "code": code.code,
        "link": referral_link(code),
        "poster_url": reverse("referral-guide-poster"),
        "referrals": Referral.objects.filter(guide=guide).count(),
    }
    return _page(request, "workspace/code.html", context, tab="code")
