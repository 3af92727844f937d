"""Campaigns in the admin: the list with each campaign's status, next run and sent/converted
figures; the form with the schedule, variants and messages (no JSON to write); launch, pause
and cancel; a results page (per variant, with the uplift against the holdout) and a preview
of the messages for a member.

Everything that writes goes through the campaign services: the form runs their checks before
saving, so a bad schedule, an unknown template variable or shares not adding up to 100 come
back on the form with nothing saved. Only drafts and paused campaigns can be changed (pause a
scheduled campaign to edit its calendar; launching it again picks the new one up).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from campaigns.admin.common import OperatorsOnlyAdmin, member_link, percent
from campaigns.admin.forms import CampaignForm
from campaigns.admin.results import results_rows, uplift_rows
from campaigns.models import Campaign, CampaignStatus, Run
from campaigns.services.campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_pause,
)
from campaigns.services.editing import EDITABLE_STATUSES, campaign_spec, campaign_update
from campaigns.services.preview import campaign_preview
from campaigns.services.results import campaign_results, campaigns_sent_converted
from members.selectors import members_visible_to

RECENT_RUNS = 10
MESSAGES_HELP = gettext_lazy(
    "One message per step and variant. A journey numbers its steps 1, 2, 3 with their days "
    "after entry; other campaigns have step 1 only. Placeholders such as {{ member_name }}, "
    "{{ guide_name }}, {{ store_name }} and {{ coupon_code }} are filled for each member; an "
    "unknown one is refused. Save, then use “Preview” to read them for a member. Fill the "
    "empty row to add a message."
)


class CampaignChangeList(ChangeList):
    """Adds each listed campaign's sent and converted counts, for the whole page in one
    query (never one per row)."""

    def get_results(self, request):
        super().get_results(request)
        figures = campaigns_sent_converted([c.pk for c in self.result_list])
        for campaign in self.result_list:
            campaign.sent_count, campaign.converted_count = figures.get(campaign.pk, (0, 0))


def _verb_messages(request, verb: str, done: list, refused: list) -> None:
    if done:
        names = ", ".join(str(c) for c in done)
        text = {
            "launch": ngettext(
                "Launched %(n)d campaign: %(names)s.",
                "Launched %(n)d campaigns: %(names)s.",
                len(done),
            ),
            "pause": ngettext(
                "Paused %(n)d campaign: %(names)s.", "Paused %(n)d campaigns: %(names)s.", len(done)
            ),
            "cancel": ngettext(
                "Cancelled %(n)d campaign: %(names)s.",
                "Cancelled %(n)d campaigns: %(names)s.",
                len(done),
            ),
        }[verb]
        messages.success(request, text % {"n": len(done), "names": names})
    for campaign, reason in refused:
        messages.error(request, f"{campaign}: {reason}")


def campaigns_apply(request, verb: str, campaigns) -> None:
    """Launch, pause or cancel each campaign through its service, and say what happened."""
    done, refused = [], []
    for campaign in campaigns:
        if verb == "launch":
            try:
                done.append(campaign_launch(campaign=campaign))
            except ValidationError as exc:
                refused.append((campaign, " ".join(exc.messages)))
        elif verb == "pause":
            result = campaign_pause(campaign=campaign)
            if result.status == CampaignStatus.PAUSED:
                done.append(result)
            else:
                refused.append((campaign, _("Only a scheduled or running campaign can be paused.")))
        else:
            result = campaign_cancel(campaign=campaign)
            if result.status == CampaignStatus.CANCELLED:
                done.append(result)
            else:
                refused.append((campaign, _("A completed campaign cannot be cancelled.")))
    _verb_messages(request, verb, done, refused)


@admin.register(Campaign)
class CampaignAdmin(OperatorsOnlyAdmin):
    form = CampaignForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    list_display = (
        "name",
        "kind",
        "status",
        "channel",
        "next_run_at",
        "sent",
        "converted",
        "results_link",
    )
    list_filter = ("status", "kind", "channel")
    list_select_related = ("segment",)
    search_fields = ("name",)
    show_facets = admin.ShowFacets.NEVER
    actions = ("launch_selected", "pause_selected", "cancel_selected")
    readonly_fields = (
        "status",
        "next_run_at",
        "launched_at",
        "created_by",
        "created_at",
        "updated_at",
        "recent_runs",
        "variants_overview",
        "messages_overview",
    )

    # --- who may do what -----------------------------------------------------------------

    def has_change_permission(self, request, obj=None):
        """Only drafts and paused campaigns are edited; others open read-only."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status in EDITABLE_STATUSES)

    def has_delete_permission(self, request, obj=None):
        """Drafts only: a launched campaign's touchpoints are its history (and count towards
        members' frequency caps); cancel it instead."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and obj is not None and obj.status == CampaignStatus.DRAFT

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- the list ------------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return CampaignChangeList

    @admin.display(description=gettext_lazy("sent"))
    def sent(self, obj):
        return getattr(obj, "sent_count", "-")

    @admin.display(description=gettext_lazy("converted"))
    def converted(self, obj):
        return getattr(obj, "converted_count", "-")

    @admin.display(description=gettext_lazy("results"))
    def results_link(self, obj):
        url = reverse("admin:campaigns_campaign_results", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("results"))

    # --- the form ------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        editable = obj is None or self.has_change_permission(request, obj)
        fieldsets = [
            (
                None,
                {
                    "fields": (
                        "name",
                        "goal",
                        ("kind", "channel"),
                        "segment",
                        "coupon_template",
                        "transactional",
                    )
                },
            ),
            (
                gettext_lazy("One-off"),
                {"fields": ("send_at",), "classes": self._collapse(obj, ("one_off",))},
            ),
            (
                gettext_lazy("Calendar"),
                {
                    "description": gettext_lazy(
                        "Recurring campaigns run on this calendar in the brand's time zone, e.g. "
                        "the 18th of each month at 10:00 is minute 0, hour 10, day of month 18. "
                        "Birthday and repurchase campaigns run daily at this time."
                    ),
                    "fields": (
                        ("cron_minute", "cron_hour"),
                        ("cron_day_of_month", "cron_month", "cron_day_of_week"),
                        ("starts_at", "ends_at"),
                    ),
                    "classes": self._collapse(obj, ("recurring", "birthday", "repurchase")),
                },
            ),
            (
                gettext_lazy("Journey"),
                {
                    "fields": ("entry_event", "entry_match", "reenter", "exit_on_order"),
                    "classes": self._collapse(obj, ("journey",)),
                },
            ),
            (
                gettext_lazy("Lifecycle and repurchase"),
                {
                    "fields": ("lifecycle_stage", "min_p_alive"),
                    "classes": self._collapse(obj, ("lifecycle", "repurchase")),
                },
            ),
            (
                gettext_lazy("Measuring"),
                {
                    "description": gettext_lazy(
                        "The holdout gets nothing, so the results can compare; conversions are "
                        "orders within the window after a message."
                    ),
                    "fields": (("holdout_percent", "attribution_days"),),
                },
            ),
        ]
        if not editable:
            fieldsets.append(
                (
                    gettext_lazy("Variants and messages"),
                    {"fields": ("variants_overview", "messages_overview")},
                )
            )
        if obj is not None:
            fieldsets.append(
                (
                    gettext_lazy("Status"),
                    {
                        "fields": (
                            ("status", "next_run_at", "launched_at"),
                            ("created_by", "created_at", "updated_at"),
                            "recent_runs",
                        )
                    },
                )
            )
        return fieldsets

    @staticmethod
    def _collapse(obj, kinds) -> tuple:
        return ("collapse",) if obj is not None and obj.kind not in kinds else ()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        context["variant_forms"] = getattr(form, "variant_forms", None)
        context["message_forms"] = getattr(form, "message_forms", None)
        context["messages_help"] = MESSAGES_HELP
        if obj is not None:
            context["campaign_tools"] = self._tools(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _tools(self, obj) -> dict:
        return {
            "results": reverse("admin:campaigns_campaign_results", args=[obj.pk]),
            "preview": reverse("admin:campaigns_campaign_preview", args=[obj.pk]),
            "touchpoints": reverse("admin:campaigns_touchpoint_changelist")
            + f"?campaign__id__exact={obj.pk}",
            "runs": reverse("admin:campaigns_run_changelist") + f"?campaign__id__exact={obj.pk}",
            "verbs": [
                (verb, label, reverse("admin:campaigns_campaign_state", args=[obj.pk, verb]))
                for verb, label, statuses in (
                    ("launch", _("Launch"), (CampaignStatus.DRAFT,)),
                    ("launch", _("Resume"), (CampaignStatus.PAUSED,)),
                    ("pause", _("Pause"), (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)),
                    (
                        "cancel",
                        _("Cancel"),
                        (
                            CampaignStatus.DRAFT,
                            CampaignStatus.SCHEDULED,
                            CampaignStatus.RUNNING,
                            CampaignStatus.PAUSED,
                        ),
                    ),
                )
                if obj.status in statuses
            ],
        }

    def save_model(self, request, obj, form, change):
        """Through campaign_create / campaign_update, with the form's variants and messages;
        the form ran the same checks, and the admin's transaction keeps it all or nothing."""
        fields = form.campaign_fields()
        spec = {"steps": form.steps_spec, "variants": form.variants_spec}
        if change:
            campaign = campaign_update(campaign=Campaign.objects.get(pk=obj.pk), **fields, **spec)
        else:
            campaign = campaign_create(created_by=request.user, **fields, **spec)
        for field in Campaign._meta.concrete_fields:
            setattr(obj, field.attname, getattr(campaign, field.attname))
        obj._state.adding = False

    # --- read-only parts -----------------------------------------------------------------

    @admin.display(description=gettext_lazy("variants"))
    def variants_overview(self, obj):
        _steps, variants = campaign_spec(obj)
        return ", ".join(f"{code}: {weight}%" for code, weight in variants.items()) or "-"

    @admin.display(description=gettext_lazy("messages"))
    def messages_overview(self, obj):
        steps, _variants = campaign_spec(obj)
        rows = [
            (
                index + 1,
                step["delay_days"],
                code,
                content["subject"],
                content["body"],
            )
            for index, step in enumerate(steps)
            for code, content in step["contents"].items()
        ]
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            _("step"),
            _("days after entry"),
            _("variant"),
            _("subject"),
            _("message"),
            format_html_join(
                "",
                '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style="white-space: '
                'pre-wrap">{}</td></tr>',
                rows,
            ),
        )

    @admin.display(description=gettext_lazy("recent runs"))
    def recent_runs(self, obj):
        runs = list(Run.objects.filter(campaign=obj).order_by("-slot")[:RECENT_RUNS])
        if not runs:
            return _("None yet.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} — {}, {}</li>",
                (
                    (
                        run.slot.strftime("%Y-%m-%d %H:%M"),
                        run.get_status_display(),
                        _("%(n)d planned") % {"n": run.planned},
                    )
                    for run in runs
                ),
            ),
        )

    # --- actions -------------------------------------------------------------------------

    @admin.action(
        description=gettext_lazy("Launch (or resume) selected campaigns"), permissions=["change"]
    )
    def launch_selected(self, request, queryset):
        campaigns_apply(request, "launch", queryset)

    @admin.action(description=gettext_lazy("Pause selected campaigns"), permissions=["change"])
    def pause_selected(self, request, queryset):
        campaigns_apply(request, "pause", queryset)

    @admin.action(description=gettext_lazy("Cancel selected campaigns"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        """Asks first: cancelling is for good (messages not yet sent are dropped)."""
        if request.POST.get("confirm") == "yes":
            campaigns_apply(request, "cancel", queryset)
            return None
        return self.cancel_question(request, list(queryset))

    def cancel_question(self, request, campaigns, *, form_action: str = ""):
        return TemplateResponse(
            request,
            "admin/campaigns/campaign/cancel_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Cancel campaigns?"),
                "campaigns": campaigns,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "form_action": form_action,
            },
        )

    # --- extra pages ---------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/results/", wrap(self.results_view), name="campaigns_campaign_results"),
            path("<int:pk>/preview/", wrap(self.preview_view), name="campaigns_campaign_preview"),
            path(
                "<int:pk>/state/<str:verb>/",
                wrap(self.state_view),
                name="campaigns_campaign_state",
            ),
            *super().get_urls(),
        ]

    def _page(self, request, campaign, template: str, title: str, **context):
        return TemplateResponse(
            request,
            f"admin/campaigns/campaign/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": campaign,
                "title": title % {"name": campaign.name},
                **context,
            },
        )

    def results_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=pk)
        results = campaign_results(campaign=campaign)
        return self._page(
            request,
            campaign,
            "results.html",
            _("Results of %(name)s"),
            results=results,
            holdout_rate=percent(results.holdout.rate),
            rows=results_rows(results),
            uplift_rows=uplift_rows(results),
            touchpoints_url=reverse("admin:campaigns_touchpoint_changelist")
            + f"?campaign__id__exact={campaign.pk}",
        )

    def preview_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=pk)
        member, error, raw = None, "", request.GET.get("member", "").strip().lstrip("#")
        if raw:
            member = (
                members_visible_to(request.user).filter(pk=int(raw)).first()
                if raw.isdigit() and len(raw) < 19
                else None
            )
            if member is None:
                error = _("No member #%(id)s; showing sample values.") % {"id": raw}
        return self._page(
            request,
            campaign,
            "preview.html",
            _("Preview of %(name)s"),
            member=member,
            member_link=member_link(member.pk, member.name) if member else "",
            member_raw=raw,
            error=error,
            rendered=campaign_preview(campaign=campaign, member=member),
        )

    def state_view(self, request, pk: int, verb: str):
        return _state_view(self, request, pk, verb)


def _state_view(model_admin: CampaignAdmin, request, pk: int, verb: str):
    """The launch / resume / pause / cancel buttons of the campaign page. They POST; cancel
    asks first (its button opens the question, which POSTs the answer)."""
    if verb not in ("launch", "pause", "cancel") or not model_admin.has_change_permission(request):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign, pk=pk)
    if verb == "cancel" and not (request.method == "POST" and request.POST.get("confirm") == "yes"):
        return model_admin.cancel_question(request, [campaign], form_action=request.path)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    campaigns_apply(request, verb, [campaign])
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
