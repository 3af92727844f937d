"""The referral index in the value score, provided by another app through a hook.

members never imports the referrals app (DESIGN.md: layers). The app that knows who referred
whom registers a provider from its AppConfig.ready()::

    from members.value.referral import referral_index_register

    referral_index_register(
        lambda: ReferralStats.objects.values("member_id", referral_index=F("index"))
    )

A provider is a callable returning a QuerySet whose rows have the keys ``member_id`` and
``referral_index`` (a number >= 0; 1.0 is neutral). The scoring joins it in SQL, so it is
never loaded into Python; members it leaves out, or every member while no provider is
registered, get 1.0. A member listed twice gets the larger index.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

ReferralIndexProvider = Callable[[], QuerySet]

_provider: ReferralIndexProvider | None = None

# The index of members the provider leaves out, and of everyone without a provider.
NEUTRAL_INDEX = 1.0


def referral_index_register(provider: ReferralIndexProvider | None) -> None:
    """Use ``provider`` for the referral index from the next scoring on (None: no provider,
    every index 1.0). Registering again replaces the earlier provider."""
    global _provider
    _provider = provider


def referral_index_sql() -> tuple[str, tuple] | None:
    """The registered provider's query as SQL and parameters: rows (member_id,
    referral_index), one per member. None without a provider."""
    if _provider is None:
        return None
    queryset = _provider()
    sql, params = queryset.values("member_id", "referral_index").query.sql_with_params()
    return (
        "SELECT ri.member_id, MAX(ri.referral_index) AS referral_index"
        f" FROM ({sql}) ri GROUP BY ri.member_id",
        tuple(params),
    )
