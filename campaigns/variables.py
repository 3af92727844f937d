"""Template variables the campaign engine takes from the apps below it (DESIGN.md: campaigns
may import them; they never import campaigns). Each resolver fills a whole batch of members
with one or two queries."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from campaigns.content import TemplateVariable, template_variable_register


def _referral_links(member_ids: list[int]) -> dict[int, str]:
    from referrals.services.codes import referral_codes_for_members, referral_link

    codes = referral_codes_for_members(member_ids=member_ids)
    return {member_id: referral_link(code) for member_id, code in codes.items()}


def _referral_codes(member_ids: list[int]) -> dict[int, str]:
    from referrals.services.codes import referral_codes_for_members

    return referral_codes_for_members(member_ids=member_ids)


def _latest_group(field: str):
    def resolve(member_ids: list[int]) -> dict[int, str]:
        from groups.selectors import members_latest_group

        latest = members_latest_group(member_ids=member_ids)
        return {member_id: group[field] or "" for member_id, group in latest.items()}

    return resolve


def register_app_variables() -> None:
    """Make the referral link and code, and the group a member joined last (for welcome
    messages), usable in campaign content."""
    template_variable_register(
        TemplateVariable(
            "group_name",
            _("name of the community group the member joined last"),
            "静安店会员福利群3",
            resolver=_latest_group("name"),
        )
    )
    template_variable_register(
        TemplateVariable(
            "group_link",
            _("invite link of the community group the member joined last"),
            "https://work.weixin.qq.com/gm/3f5a",
            resolver=_latest_group("invite_link"),
        )
    )
    template_variable_register(
        TemplateVariable(
            "referral_link",
            _("member's personal referral link"),
            "https://example.com/r/7KQ2MX",
            resolver=_referral_links,
        )
    )
    template_variable_register(
        TemplateVariable(
            "referral_code",
            _("member's personal referral code"),
            "7KQ2MX",
            resolver=_referral_codes,
        )
    )
