"""Results of a campaign, in total and per A/B variant, read from the touchpoint outbox.

Two aggregate statements (one over the whole campaign, one grouped by variant), whatever the
audience size: no Python loop over touchpoints.

What the figures mean (campaigns.services.attribution fills them):

- Sent rows carry the last-touch credit (``converted_at``, ``order``, ``revenue``,
  ``margin``): an order is credited to at most one sent touchpoint. Revenue and margin are
  summed over sent rows only; "converted" counts credited sent rows.
- Every row that takes part in the comparison (sent, failed, held out, skipped for consent,
  caps, identity, subscription or coupons) records in ``bought_at`` the member's first paid
  order in the window after it was sent or due, whichever campaign got the credit.
- Uplift is intent-to-treat, counted in touchpoints: the treatment is every measured row that
  is not in the holdout (sent, failed, or skipped for a measured reason), the control is the
  holdout; a row converted when its member bought (``bought_at``). Uplift = conversion rate
  of the treatment − conversion rate of the holdout, with a
  95% confidence interval for the difference of two proportions (normal approximation). With
  too few rows or conversions in either group the interval would be nonsense, so the result
  says "not enough data" instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _

from campaigns.models import Campaign, SkipReason, Touchpoint, TouchpointState, Variant
from campaigns.services.attribution import MEASURED_SKIPS

# The normal approximation needs each group to be big enough and to have enough of both
# outcomes (the textbook rule: n·p ≥ 5 and n·(1 − p) ≥ 5).
MIN_GROUP = 30
MIN_OUTCOMES = 5
Z_95 = 1.959964
CENT = Decimal("0.01")

HOLDOUT = Q(state=TouchpointState.SKIPPED, skip_reason=SkipReason.HOLDOUT)
TREATED = Q(state__in=[TouchpointState.SENT, TouchpointState.FAILED]) | Q(
    state=TouchpointState.SKIPPED,
    skip_reason__in=[r for r in MEASURED_SKIPS if r != SkipReason.HOLDOUT],
)
CONVERTED = Q(converted_at__isnull=False)
# For the comparison: the member bought within the window, whichever message got the credit.
BOUGHT = Q(bought_at__isnull=False)
SENT = Q(state=TouchpointState.SENT)


@dataclass(frozen=True)
class Group:
    """Rows of one side of the comparison and how many of them converted."""

    rows: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.rows if self.rows else None


@dataclass(frozen=True)
class Uplift:
    """Conversion rate of the treatment minus that of the holdout, with its 95% interval;
    all three None, with ``note`` saying why, when the data cannot support an estimate (each
    group's own rate is still there)."""

    treatment: Group
    control: Group
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    note: str = ""

    @property
    def enough_data(self) -> bool:
        return self.ci_low is not None

    @property
    def significant(self) -> bool:
        """The interval excludes zero: the message changed how often members buy."""
        return self.enough_data and (self.ci_low > 0 or self.ci_high < 0)


def uplift_estimate(treatment: Group, control: Group) -> Uplift:
    """Difference of two proportions with a 95% Wald interval, or "not enough data"."""
    if control.rows == 0:
        return Uplift(treatment, control, None, None, None, _("No holdout group."))
    for group in (treatment, control):
        if (
            group.rows < MIN_GROUP
            or group.converted < MIN_OUTCOMES
            or group.rows - group.converted < MIN_OUTCOMES
        ):
            note = _(
                "Not enough data: each group needs at least %(rows)d members and %(outcomes)d "
                "conversions and non-conversions."
            ) % {"rows": MIN_GROUP, "outcomes": MIN_OUTCOMES}
            return Uplift(treatment, control, None, None, None, note)
    p1, p2 = treatment.rate, control.rate
    difference = p1 - p2
    margin = Z_95 * math.sqrt(p1 * (1 - p1) / treatment.rows + p2 * (1 - p2) / control.rows)
    return Uplift(treatment, control, difference, difference - margin, difference + margin)


@dataclass(frozen=True)
class Figures:
    """What happened to a set of touchpoints."""

    audience: int  # distinct members with a touchpoint
    touchpoints: int
    pending: int  # waiting to be sent, or being sent right now
    deferred: int  # held for quiet hours or a paused campaign
    sent: int
    failed: int
    skipped: int
    skipped_by_reason: dict[str, int]
    converted: int  # sent touchpoints credited with an order
    revenue: Decimal  # credited to sent touchpoints
    margin: Decimal
    treatment: Group

    @property
    def conversion_rate(self) -> float | None:
        """Conversion among sent: converted sent touchpoints / sent touchpoints."""
        return self.converted / self.sent if self.sent else None


@dataclass(frozen=True)
class VariantResults:
    code: str
    weight: int
    figures: Figures
    uplift: Uplift


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    total: Figures  # every touchpoint, the holdout included
    holdout: Group
    holdout_audience: int
    uplift: Uplift
    variants: list[VariantResults] = field(default_factory=list)


def _count(condition: Q | None = None) -> Count:
    return Count("pk", filter=condition)


def _aggregates() -> dict:
    aggregates = {
        "touchpoints": _count(),
        "audience": Count("member_id", distinct=True),
        "pending": _count(Q(state__in=[TouchpointState.PENDING, TouchpointState.SENDING])),
        "deferred": _count(Q(state=TouchpointState.DEFERRED)),
        "sent": _count(SENT),
        "failed": _count(Q(state=TouchpointState.FAILED)),
        "skipped": _count(Q(state=TouchpointState.SKIPPED)),
        "converted": _count(SENT & CONVERTED),
        "revenue": Sum("revenue", filter=SENT, default=Decimal("0")),
        "margin": Sum("margin", filter=SENT, default=Decimal("0")),
        "treated": _count(TREATED),
        "treated_converted": _count(TREATED & BOUGHT),
        "held_out": _count(HOLDOUT),
        "held_out_converted": _count(HOLDOUT & BOUGHT),
        "held_out_audience": Count("member_id", distinct=True, filter=HOLDOUT),
    }
    for reason in SkipReason.values:
        aggregates[f"skip_{reason}"] = _count(Q(state=TouchpointState.SKIPPED, skip_reason=reason))
    return aggregates


def _figures(row: dict) -> Figures:
    by_reason = {
        reason: row[f"skip_{reason}"] for reason in SkipReason.values if row[f"skip_{reason}"]
    }
    other = row["skipped"] - sum(by_reason.values())
    if other:
        by_reason["other"] = other
    return Figures(
        audience=row["audience"],
        touchpoints=row["touchpoints"],
        pending=row["pending"],
        deferred=row["deferred"],
        sent=row["sent"],
        failed=row["failed"],
        skipped=row["skipped"],
        skipped_by_reason=by_reason,
        converted=row["converted"],
        revenue=Decimal(row["revenue"] or 0).quantize(CENT),
        margin=Decimal(row["margin"] or 0).quantize(CENT),
        treatment=Group(row["treated"], row["treated_converted"]),
    )


def campaign_results(*, campaign: Campaign) -> CampaignResults:
    """The campaign's figures in total and per variant, and its uplift against the holdout.

    The holdout is one group for the whole campaign (it receives nothing, whatever arm its
    members would have been in), so each variant is compared with all of it; the variant
    rows count only the touchpoints outside the holdout."""
    rows = Touchpoint.objects.filter(campaign=campaign)
    aggregates = _aggregates()
    total = rows.aggregate(**aggregates)
    by_variant = {
        row["variant_id"]: row
        for row in rows.exclude(HOLDOUT).order_by().values("variant_id").annotate(**aggregates)
    }
    holdout = Group(total["held_out"], total["held_out_converted"])
    figures = _figures(total)
    empty = _figures(dict.fromkeys(aggregates, 0))
    variants = []
    for variant in Variant.objects.filter(campaign=campaign).order_by("code"):
        row = by_variant.get(variant.pk)
        variant_figures = _figures(row) if row else empty
        variants.append(
            VariantResults(
                code=variant.code,
                weight=variant.weight,
                figures=variant_figures,
                uplift=uplift_estimate(variant_figures.treatment, holdout),
            )
        )
    return CampaignResults(
        campaign=campaign,
        total=figures,
        holdout=holdout,
        holdout_audience=total["held_out_audience"],
        uplift=uplift_estimate(figures.treatment, holdout),
        variants=variants,
    )


def campaigns_sent_converted(campaign_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(sent, converted) per campaign for a page of a campaign list, in one statement."""
    if not campaign_ids:
        return {}
    rows = (
        Touchpoint.objects.filter(campaign_id__in=campaign_ids, state=TouchpointState.SENT)
        .order_by()
        .values("campaign_id")
        .annotate(sent=Count("pk"), converted=Count("pk", filter=CONVERTED))
    )
    return {row["campaign_id"]: (row["sent"], row["converted"]) for row in rows}


def skip_reason_label(reason: str) -> str:
    """What operators read for a skip reason ("other" for reasons this version does not
    know)."""
    if reason in SkipReason.values:
        return str(SkipReason(reason).label)
    return _("other")
