"""Creating, checking and launching campaigns. Everything that can be refused is refused at
save, with the field named: an unusable channel, a calendar that never fires, a template with
an unknown variable, variant shares that do not add up."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.channels import channel_get
from campaigns.content import TemplateError, template_check
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Content, Step, Variant
from campaigns.services.enrol import ENTRY_EVENTS
from campaigns.services.schedule import ScheduleError, cron_next, cron_parse
from members.models.metrics import LifecycleStage

SCHEDULED_KINDS = (CampaignKind.ONE_OFF, CampaignKind.RECURRING)
# Kinds whose runs follow a calendar (cron fields): recurring campaigns, and repurchase and
# birthday campaigns, which run every day at their time of day (minute and hour; the other
# fields may narrow the days).
DAILY_OR_RECURRING = (CampaignKind.RECURRING, CampaignKind.REPURCHASE, CampaignKind.BIRTHDAY)
# Journeys and lifecycle campaigns enrol members one by one as their event happens; birthday
# and repurchase campaigns take the day's members once a day. All run until stopped.
TRIGGERED_KINDS = (
    CampaignKind.JOURNEY,
    CampaignKind.LIFECYCLE,
    CampaignKind.BIRTHDAY,
    CampaignKind.REPURCHASE,
)


def _check_fields(options, prefix: str, fail) -> None:
    """``options["fields"]``: named templates rendered per member like the body (the values
    of template-based providers: mini-program subscription data, SMS template parameters)."""
    if not isinstance(options, dict):
        fail(f"{prefix}.options", _("Channel options must be an object."))
        return
    fields = options.get("fields")
    if fields is None:
        return
    if not isinstance(fields, dict) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in fields.items()
    ):
        fail(f"{prefix}.options", _("“fields” must map names to texts."))
        return
    for name, text in fields.items():
        try:
            template_check(text)
        except TemplateError as exc:
            fail(f"{prefix}.fields.{name}", str(exc))


def campaign_rules_check(campaign: Campaign, steps: list[dict], variants: dict[str, int]) -> None:
    """Every rule a campaign with these steps and variants must meet, as one ValidationError
    naming each field (the name is checked by the callers)."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    channel = channel_get(campaign.channel)
    if channel is None:
        fail("channel", _("Unknown channel “%(c)s”.") % {"c": campaign.channel})
    elif channel.audience != "members":
        fail(
            "channel",
            _("The %(c)s channel sends to customer groups, not to members.")
            % {"c": campaign.channel},
        )
    elif not channel.is_configured():
        fail(
            "channel",
            _("The %(c)s channel is not configured on this server.") % {"c": campaign.channel},
        )
    if campaign.kind not in CampaignKind.values:
        fail("kind", _("Unknown kind."))
    if campaign.kind in DAILY_OR_RECURRING:
        try:
            schedule = cron_parse(
                minute=campaign.cron_minute,
                hour=campaign.cron_hour,
                day_of_month=campaign.cron_day_of_month,
                month=campaign.cron_month,
                day_of_week=campaign.cron_day_of_week,
            )
            cron_next(schedule, timezone.now())
        except ScheduleError as exc:
            fail("schedule", str(exc))
    if campaign.kind == CampaignKind.JOURNEY and not campaign.entry_event:
        fail("entry_event", _("A journey needs the event that starts it."))
    elif campaign.kind == CampaignKind.JOURNEY and campaign.entry_event not in ENTRY_EVENTS:
        fail(
            "entry_event",
            _("A journey cannot start on “%(e)s”; choose one of: %(known)s.")
            % {"e": campaign.entry_event, "known": ", ".join(sorted(ENTRY_EVENTS))},
        )
    match = campaign.entry_match
    if match in (None, ""):
        campaign.entry_match = {}
    elif not isinstance(match, dict) or not all(
        isinstance(key, str) and isinstance(value, str | int | bool) for key, value in match.items()
    ):
        fail(
            "entry_match",
            _('The entry condition maps data keys to plain values, e.g. {"group_id": 12}.'),
        )
    if campaign.min_p_alive is not None and not 0 <= campaign.min_p_alive <= 1:
        fail("min_p_alive", _("A probability between 0 and 1."))
    if (
        campaign.kind == CampaignKind.LIFECYCLE
        and campaign.lifecycle_stage not in LifecycleStage.values
    ):
        fail("lifecycle_stage", _("Choose the lifecycle stage that starts it."))
    if campaign.ends_at and campaign.starts_at and campaign.ends_at <= campaign.starts_at:
        fail("ends_at", _("The end must come after the start."))
    if not 0 <= campaign.holdout_percent <= 50:
        # xgettext:no-python-format
        fail("holdout_percent", _("A holdout of 0 to 50% is allowed."))
    if not 1 <= campaign.attribution_days <= 90:
        fail("attribution_days", _("An attribution window of 1 to 90 days is allowed."))

    if not variants or any(not code or len(code) > 8 for code in variants):
        fail("variants", _("Name each variant with 1 to 8 characters."))
    elif sum(variants.values()) != 100 or any(w <= 0 for w in variants.values()):
        fail("variants", _("Variant shares must be positive and add up to 100%."))
    if not steps:
        fail("steps", _("A campaign needs at least one message."))
    if campaign.kind != CampaignKind.JOURNEY and len(steps) > 1:
        fail("steps", _("Only journeys have several steps."))
    for index, step in enumerate(steps):
        contents = step.get("contents") or {}
        if set(contents) != set(variants):
            fail(
                f"steps[{index}]",
                _("Give a message for every variant: %(v)s.") % {"v": ", ".join(sorted(variants))},
            )
        for code, content in contents.items():
            for part in ("subject", "body"):
                try:
                    template_check(content.get(part, ""))
                except TemplateError as exc:
                    fail(f"steps[{index}].{code}.{part}", str(exc))
            if not (content.get("body") or "").strip():
                fail(f"steps[{index}].{code}.body", _("The message is empty."))
            options = content.get("options") or {}
            _check_fields(options, f"steps[{index}].{code}", fail)
            if channel is not None and isinstance(options, dict):
                problems = channel.check_content(
                    subject=content.get("subject", ""),
                    body=content.get("body", ""),
                    options=options,
                    transactional=campaign.transactional,
                )
                for part, messages in problems.items():
                    for message in messages:
                        fail(f"steps[{index}].{code}.{part}", message)
        delay = step.get("delay_days", 0)
        if not isinstance(delay, int) or not 0 <= delay <= 365:
            fail(f"steps[{index}].delay_days", _("0 to 365 days."))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def campaign_create(
    *,
    name: str,
    kind: str,
    channel: str,
    steps: list[dict],
    variants: dict[str, int] | None = None,
    created_by=None,
    **fields,
) -> Campaign:
    """A draft campaign with its steps, variants and content, checked as a whole.

    ``steps``: [{"delay_days": 0, "contents": {"A": {"subject", "body", "options"}}}, ...];
    ``variants``: {"A": 50, "B": 50} (default {"A": 100}); other ``fields`` are Campaign fields
    (segment, send_at, cron_*, entry_event, holdout_percent, coupon_template, ...).
    """
    variants = variants or {"A": 100}
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": [_("A name of 1 to 100 characters is required.")]})
    campaign = Campaign(
        name=name,
        kind=kind,
        channel=channel,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        **fields,
    )
    campaign_rules_check(campaign, steps, variants)
    campaign.save()
    variant_rows = {
        code: Variant.objects.create(campaign=campaign, code=code, weight=weight)
        for code, weight in sorted(variants.items())
    }
    for position, spec in enumerate(steps):
        step = Step.objects.create(
            campaign=campaign, position=position, delay_days=spec.get("delay_days", 0)
        )
        for code, content in spec["contents"].items():
            Content.objects.create(
                step=step,
                variant=variant_rows[code],
                subject=content.get("subject", ""),
                body=content["body"],
                options=content.get("options") or {},
            )
    return campaign


@transaction.atomic
def campaign_launch(*, campaign: Campaign, now=None) -> Campaign:
    """Schedule a draft (or resume a paused) campaign. Launching one that is already scheduled
    or running changes nothing: the runs it starts are keyed by their slot, never doubled."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    now = now or timezone.now()
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
        return campaign
    if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        raise ValidationError(_("A finished or cancelled campaign cannot be launched again."))
    steps = [
        {
            "delay_days": step.delay_days,
            "contents": {
                c.variant.code: {"subject": c.subject, "body": c.body, "options": c.options}
                for c in step.contents.all()
            },
        }
        for step in campaign.steps.prefetch_related("contents__variant")
    ]
    campaign_rules_check(campaign, steps, {v.code: v.weight for v in campaign.variants.all()})
    if campaign.kind == CampaignKind.ONE_OFF and campaign.runs.exists():
        # Resuming a one-off that already started: its run carries on, never a second one.
        campaign.status = CampaignStatus.RUNNING
        campaign.launched_at = campaign.launched_at or now
        campaign.save(update_fields=["status", "launched_at", "updated_at"])
        return campaign
    if campaign.kind == CampaignKind.ONE_OFF:
        campaign.next_run_at = max(campaign.send_at or now, now)
    elif campaign.kind in DAILY_OR_RECURRING:
        schedule = cron_parse(
            minute=campaign.cron_minute,
            hour=campaign.cron_hour,
            day_of_month=campaign.cron_day_of_month,
            month=campaign.cron_month,
            day_of_week=campaign.cron_day_of_week,
        )
        campaign.next_run_at = cron_next(schedule, max(campaign.starts_at or now, now))
    campaign.status = (
        CampaignStatus.SCHEDULED if campaign.kind in SCHEDULED_KINDS else CampaignStatus.RUNNING
    )
    campaign.launched_at = campaign.launched_at or now
    campaign.save(update_fields=["status", "next_run_at", "launched_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Stop sending for now: due touchpoints wait (they are not dropped) until resumed."""
    Campaign.objects.filter(
        pk=campaign.pk, status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING]
    ).update(status=CampaignStatus.PAUSED, updated_at=timezone.now())
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop for good: touchpoints not yet sent are skipped (reason: campaign cancelled)."""
    from campaigns.models import SkipReason, Touchpoint, TouchpointState

    Campaign.objects.filter(pk=campaign.pk).exclude(status=CampaignStatus.COMPLETED).update(
        status=CampaignStatus.CANCELLED, next_run_at=None, updated_at=timezone.now()
    )
    Touchpoint.objects.filter(
        campaign=campaign, state__in=[TouchpointState.PENDING, TouchpointState.DEFERRED]
    ).update(state=TouchpointState.SKIPPED, skip_reason=SkipReason.CAMPAIGN_STOPPED)
    campaign.refresh_from_db()
    return campaign
