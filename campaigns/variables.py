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


def register_app_variables() -> None:
    """Make {{ referral_link }} and {{ referral_code }} usable in campaign content."""
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
