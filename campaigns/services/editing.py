"""Changing a campaign after it was created: its fields, variants, steps and content, checked
as a whole by the same rules as campaign_create (campaigns.services.campaigns), all or nothing.

Only drafts and paused campaigns change. Steps and variants are matched by position and code
and updated in place, because touchpoints already planned or sent point at them: a step or
variant that has touchpoints cannot be removed, and once launched the kind and the channel
stay (planned touchpoints carry their channel).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignStatus, Content, Step, Touchpoint, Variant
from campaigns.services.campaigns import campaign_rules_check

EDITABLE_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.PAUSED)
# Campaign fields campaign_create and campaign_update take (besides steps and variants).
CAMPAIGN_FIELDS = (
    "name",
    "goal",
    "kind",
    "channel",
    "segment",
    "send_at",
    "cron_minute",
    "cron_hour",
    "cron_day_of_month",
    "cron_month",
    "cron_day_of_week",
    "starts_at",
    "ends_at",
    "entry_event",
    "entry_match",
    "reenter",
    "lifecycle_stage",
    "min_p_alive",
    "exit_on_order",
    "holdout_percent",
    "attribution_days",
    "coupon_template",
    "transactional",
)


class CampaignNotEditable(ValidationError):
    """The campaign is scheduled, running or finished: pause it first (or it is over)."""


def campaign_check(*, campaign: Campaign, steps: list[dict], variants: dict[str, int]) -> None:
    """Everything campaign_create refuses, for an unsaved campaign and its nested content:
    ValidationError naming each field (``steps[0].A.body``, ``variants``, ``schedule`` ...)."""
    errors: dict[str, list[str]] = {}
    name = (campaign.name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = [_("A name of 1 to 100 characters is required.")]
    try:
        campaign_rules_check(campaign, steps, variants)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def campaign_spec(campaign: Campaign) -> tuple[list[dict], dict[str, int]]:
    """The campaign's steps and variants in the shape campaign_create takes (works on
    prefetched ``steps__contents__variant`` and ``variants``)."""
    steps = [
        {
            "delay_days": step.delay_days,
            "contents": {
                content.variant.code: {
                    "subject": content.subject,
                    "body": content.body,
                    "options": content.options,
                }
                for content in sorted(step.contents.all(), key=lambda c: c.variant.code)
            },
        }
        for step in sorted(campaign.steps.all(), key=lambda s: s.position)
    ]
    variants = {v.code: v.weight for v in sorted(campaign.variants.all(), key=lambda v: v.code)}
    return steps, variants


@transaction.atomic
def campaign_update(
    *,
    campaign: Campaign,
    steps: list[dict] | None = None,
    variants: dict[str, int] | None = None,
    **fields,
) -> Campaign:
    """Change a draft or paused campaign. ``fields`` are Campaign fields (as campaign_create
    takes them); ``steps`` and ``variants``, when given, replace the whole list / split.
    CampaignNotEditable for any other status; ValidationError, with nothing written, for
    anything campaign_create would refuse."""
    unknown = sorted(set(fields) - set(CAMPAIGN_FIELDS))
    if unknown:
        raise TypeError(f"not campaign fields: {', '.join(unknown)}")
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status not in EDITABLE_STATUSES:
        raise CampaignNotEditable(
            {"status": [_("Only a draft or paused campaign can be changed; pause it first.")]}
        )
    errors: dict[str, list[str]] = {}
    if locked.launched_at:
        for name in ("kind", "channel"):
            if name in fields and fields[name] != getattr(locked, name):
                errors[name] = [_("This cannot change once the campaign has been launched.")]
    for name, value in fields.items():
        setattr(locked, name, value.strip() if name == "name" and value else value)
    current_steps, current_variants = campaign_spec(locked)
    steps = current_steps if steps is None else steps
    variants = current_variants if variants is None else variants

    existing_steps = {s.position: s for s in locked.steps.all()}
    existing_variants = {v.code: v for v in locked.variants.all()}
    dropped_steps = [s.pk for position, s in existing_steps.items() if position >= len(steps)]
    dropped_variants = [v.pk for code, v in existing_variants.items() if code not in variants]
    if dropped_steps and Touchpoint.objects.filter(step_id__in=dropped_steps).exists():
        errors.setdefault("steps", []).append(
            _("A step that already has touchpoints cannot be removed.")
        )
    if dropped_variants and Touchpoint.objects.filter(variant_id__in=dropped_variants).exists():
        errors.setdefault("variants", []).append(
            _("A variant that already has touchpoints cannot be removed.")
        )
    try:
        campaign_check(campaign=locked, steps=steps, variants=variants)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)

    locked.save()
    Step.objects.filter(pk__in=dropped_steps).delete()
    Variant.objects.filter(pk__in=dropped_variants).delete()
    variant_rows = {}
    for code, weight in sorted(variants.items()):
        variant = existing_variants.get(code)
        if variant is None:
            variant = Variant.objects.create(campaign=locked, code=code, weight=weight)
        elif variant.weight != weight:
            variant.weight = weight
            variant.save(update_fields=["weight"])
        variant_rows[code] = variant
    for position, spec in enumerate(steps):
        delay = spec.get("delay_days", 0)
        step = existing_steps.get(position)
        if step is None:
            step = Step.objects.create(campaign=locked, position=position, delay_days=delay)
        elif step.delay_days != delay:
            step.delay_days = delay
            step.save(update_fields=["delay_days"])
        for code, content in spec["contents"].items():
            Content.objects.update_or_create(
                step=step,
                variant=variant_rows[code],
                defaults={
                    "subject": content.get("subject", ""),
                    "body": content["body"],
                    "options": content.get("options") or {},
                },
            )
    return locked
