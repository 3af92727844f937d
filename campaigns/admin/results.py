"""The tables of a campaign's results page, from campaigns.services.results: one row per
variant and one for all touchpoints, then the uplift of each variant against the holdout."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from campaigns.admin.common import percent, points
from campaigns.services.results import skip_reason_label


def _figure_row(label: str, figures, *, link: str = "") -> dict:
    return {
        "label": label,
        "link": link,
        "audience": figures.audience,
        "pending": figures.pending,
        "deferred": figures.deferred,
        "sent": figures.sent,
        "failed": figures.failed,
        "skipped": figures.skipped,
        "skipped_by_reason": [
            (skip_reason_label(reason), count)
            for reason, count in sorted(figures.skipped_by_reason.items())
        ],
        "converted": figures.converted,
        "conversion_rate": percent(figures.conversion_rate),
        "revenue": figures.revenue,
        "margin": figures.margin,
    }


def results_rows(results) -> list[dict]:
    base = (
        reverse("admin:campaigns_touchpoint_changelist")
        + f"?campaign__id__exact={results.campaign.pk}"
    )
    rows = [
        _figure_row(
            _("Variant %(code)s (%(weight)d%%)") % {"code": v.code, "weight": v.weight},
            v.figures,
            link=f"{base}&variant__code={v.code}",
        )
        for v in results.variants
    ]
    rows.append(_figure_row(_("All touchpoints, holdout included"), results.total, link=base))
    return rows


def _uplift_row(label: str, uplift) -> dict:
    return {
        "label": label,
        "treatment_rows": uplift.treatment.rows,
        "treatment_converted": uplift.treatment.converted,
        "treatment_rate": percent(uplift.treatment.rate),
        "difference": points(uplift.difference),
        "ci": (
            _("%(low)s to %(high)s")
            % {"low": points(uplift.ci_low), "high": points(uplift.ci_high)}
            if uplift.enough_data
            else ""
        ),
        "significant": uplift.significant,
        "note": uplift.note,
    }


def uplift_rows(results) -> list[dict]:
    rows = [
        _uplift_row(_("Variant %(code)s") % {"code": v.code}, v.uplift) for v in results.variants
    ]
    rows.append(_uplift_row(_("All variants"), results.uplift))
    return rows
