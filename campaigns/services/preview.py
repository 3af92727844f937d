"""What a campaign's messages will say to one member, before anything is sent.

Rendered with the values the dispatcher gives a real send (campaigns.services.dispatch,
touchpoints_send): the member's name, their owning guide's and home store's names, the coupon
code, and the variables other apps register (campaigns.content.app_variable_values). Coupons
are issued per touchpoint just before it is sent, so the preview shows a sample code when the
campaign offers one, and nothing when it does not (as the real message would). A member who
has no referral code yet gets one, as their first real message would make it. Without a
member, every variable shows its sample value.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.content import CompiledTemplate, app_variable_values, template_variables
from campaigns.models import Campaign, Content
from members.models import Member

COUPON_SAMPLE = next(v.sample for v in template_variables() if v.name == "coupon_code")


@dataclass(frozen=True)
class RenderedContent:
    step: int  # position, from 0
    delay_days: int
    variant: str
    subject: str
    body: str
    fields: dict[str, str]


def _templates(content: Content) -> tuple[CompiledTemplate, CompiledTemplate, dict]:
    fields = content.options.get("fields") if isinstance(content.options, dict) else None
    field_templates = (
        {str(name): CompiledTemplate(str(text)) for name, text in fields.items()}
        if isinstance(fields, dict)
        else {}
    )
    return CompiledTemplate(content.subject), CompiledTemplate(content.body), field_templates


def member_values(*, campaign: Campaign, member: Member | None, names: set[str]) -> dict:
    """The variable values a send to ``member`` would use (samples without a member)."""
    if member is None:
        values = {v.name: v.sample for v in template_variables()}
    else:
        guide, store = member.guide, member.home_store
        values = {
            "member_name": member.name,
            "guide_name": guide.name if guide else "",
            "store_name": store.name if store else "",
        }
        for name, by_member in app_variable_values(sorted(names), [member.pk]).items():
            values[name] = by_member.get(member.pk, "")
    values["coupon_code"] = COUPON_SAMPLE if campaign.coupon_template_id else ""
    return values


def campaign_preview(
    *,
    campaign: Campaign,
    member: Member | None = None,
    step: int | None = None,
    variant: str | None = None,
) -> list[RenderedContent]:
    """Every message of the campaign (or of one step position / variant code) rendered for
    ``member``, in step then variant order."""
    contents = (
        Content.objects.filter(step__campaign=campaign)
        .select_related("step", "variant")
        .order_by("step__position", "variant__code")
    )
    if step is not None:
        contents = contents.filter(step__position=step)
    if variant is not None:
        contents = contents.filter(variant__code=variant)
    if member is not None:
        member = Member.objects.select_related("guide", "home_store").get(pk=member.pk)
    compiled = [(content, _templates(content)) for content in contents]
    names: set[str] = set()
    for _content, (subject, body, fields) in compiled:
        names.update(subject.variables, body.variables)
        for template in fields.values():
            names.update(template.variables)
    values = member_values(campaign=campaign, member=member, names=names)
    return [
        RenderedContent(
            step=content.step.position,
            delay_days=content.step.delay_days,
            variant=content.variant.code,
            subject=subject.render(values),
            body=body.render(values),
            fields={name: template.render(values) for name, template in fields.items()},
        )
        for content, (subject, body, fields) in compiled
    ]
