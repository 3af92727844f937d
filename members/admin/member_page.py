"""The member page's extra sections (timeline, orders, tags, points, coupons, consent), tagging
from that page, and the CSV import pages. Reads come from selectors, writes from services."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from members.admin import import_jobs  # noqa: F401  (registers the job pages)
from members.admin.member_actions import TagChoiceForm
from members.choices import ConsentChannel
from members.events import event_label
from members.models import ImportJob, Member, MemberValue, Tag
from members.selectors import member_timeline
from members.services.import_jobs import import_job_create
from members.services.tags import members_tag, members_untag

# How many rows of each history the member page shows (newest first).
PAGE_ROWS = 50
# Recent jobs listed under the upload form.
RECENT_IMPORTS = 10


def member_page_context(model_admin, request, member: Member) -> dict:
    """What the member page shows below the form; a bounded query per section."""
    events = list(member_timeline(member=member)[:PAGE_ROWS])
    for event in events:
        event.label = event_label(event.kind)
    labels = dict(ConsentChannel.choices)
    consents = sorted(member.consents.all(), key=lambda c: list(labels).index(c.channel))
    for consent in consents:
        consent.channel_label = labels.get(consent.channel, consent.channel)
    return {
        "timeline": events,
        "orders": list(member.orders.select_related("store").order_by("-paid_at")[:PAGE_ROWS]),
        "member_tags": list(
            member.member_tags.select_related("tag__group", "tagged_by").order_by(
                "tag__group__sort", "tag__group_id", "tag__sort"
            )
        ),
        "points": list(member.points_entries.order_by("-id")[:PAGE_ROWS]),
        "coupons": list(
            member.coupons.select_related("template").order_by("-issued_at")[:PAGE_ROWS]
        ),
        "consents": consents,
        # The nightly prediction (docs/value.md); None before the first scoring or for a
        # member who never bought.
        "predicted_value": MemberValue.objects.filter(member=member).first(),
        "page_rows": PAGE_ROWS,
        "can_tag": model_admin.has_tag_permission(request),
        "can_untag": model_admin.has_untag_permission(request),
        "tag_form": TagChoiceForm(auto_id="id_member_tag_%s"),
        "tag_url": reverse(
            f"admin:{member._meta.app_label}_{member._meta.model_name}_tag", args=[member.pk]
        ),
    }


def member_tag_view(model_admin):
    """POST tag=<id> adds a tag to one member; POST untag=<id> removes it. Same services and
    permissions as the bulk actions; the member must be visible to the user (else 404)."""

    def view(request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        member = model_admin.get_object(request, unquote(object_id))
        if member is None:
            raise Http404
        one = Member.objects.filter(pk=member.pk)
        if "untag" in request.POST:
            if not model_admin.has_untag_permission(request):
                raise PermissionDenied
            tag = Tag.objects.filter(pk=request.POST.get("untag") or 0).first()
            if tag is not None and members_untag(members=one, tags=[tag], actor=request.user):
                messages.success(request, _("Removed “%(tag)s”.") % {"tag": tag})
        else:
            if not model_admin.has_tag_permission(request):
                raise PermissionDenied
            form = TagChoiceForm(request.POST)
            if form.is_valid():
                tag = form.cleaned_data["tag"]
                members_tag(members=one, tag=tag, actor=request.user)
                messages.success(request, _("Tagged with “%(tag)s”.") % {"tag": tag})
            else:
                messages.error(request, _("Choose a tag."))
        url = reverse(
            f"admin:{member._meta.app_label}_{member._meta.model_name}_change", args=[member.pk]
        )
        return HttpResponseRedirect(url)

    return view


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))
    encoding = forms.ChoiceField(
        label=_("encoding"),
        choices=[("utf-8", "UTF-8"), ("gbk", _("GBK (Excel on Chinese Windows)"))],
        initial="utf-8",
    )


class CsvImportView(FormView):
    """Upload a members (or orders) CSV: the file is stored and imported by a Celery worker;
    the operator is taken to the job's page, which shows progress, counts and bad rows."""

    model_admin = None
    form_class = ImportForm
    template_name = "admin/members/import_upload.html"
    kind = "members"

    def dispatch(self, request, *args, **kwargs):
        if not self.model_admin.has_import_permission(request):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        opts = self.model_admin.opts
        recent = ImportJob.objects.filter(kind=self.kind).select_related("created_by")
        return super().get_context_data(
            **self.model_admin.admin_site.each_context(self.request),
            opts=opts,
            title=_("Import %(what)s from CSV") % {"what": opts.verbose_name_plural},
            recent_jobs=list(recent.order_by("-pk")[:RECENT_IMPORTS]),
            jobs_url=reverse("admin:members_importjob_changelist") + f"?kind__exact={self.kind}",
            **kwargs,
        )

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        job = import_job_create(
            kind=self.kind,
            upload=upload,
            encoding=form.cleaned_data["encoding"],
            actor=self.request.user,
        )
        messages.success(
            self.request,
            _("“%(name)s” was uploaded; the import runs in the background.")
            % {"name": job.original_name},
        )
        return HttpResponseRedirect(reverse("admin:members_importjob_change", args=[job.pk]))
