"""A stored fit as lines of text, for the fit_value_models command and the admin."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _


def fit_report(fit) -> list[str]:
    """The fit as lines of text: models, parameters with standard errors, log-likelihood,
    convergence, fallback reasons and, after an earlier calibration end, the holdout check."""
    diag = fit.diagnostics
    purchases, spend = diag.get("purchases", {}), diag.get("spend", {})
    lines = [
        _("fit #%(id)s at %(fitted)s, calibration end %(end)s")
        % {
            "id": fit.pk,
            "fitted": f"{timezone.localtime(fit.fitted_at):%Y-%m-%d %H:%M}",
            "end": f"{timezone.localtime(fit.calibration_end):%Y-%m-%d %H:%M}",
        },
        _(
            "members: %(window)s first bought in the %(days)s days before the end, "
            "%(fitted)s fitted, %(repeat)s repeat buyers"
        )
        % {
            "window": diag.get("members_in_window"),
            "days": diag.get("window_days"),
            "fitted": fit.n_members,
            "repeat": diag.get("repeat_buyers"),
        },
        _("purchase model: %(model)s") % {"model": fit.get_purchase_model_display()},
    ]
    lines += _model_lines(purchases.get("fit"), purchases.get("fallback_reason"))
    lines.append(
        "  "
        + _("average interval: %(days).2f days")
        % {"days": purchases.get("average_interval_days") or 0}
    )
    lines.append(_("spend model: %(model)s") % {"model": fit.get_spend_model_display()})
    lines += _model_lines(spend.get("fit"), spend.get("fallback_reason"))
    lines.append(
        "  " + _("average order value: %(value)s") % {"value": spend.get("average_order_value")}
    )
    holdout = diag.get("holdout")
    if holdout:
        lines.append(
            _(
                "holdout: %(days)s days after the end, %(members)s members: %(actual)s "
                "purchases made, %(predicted)s predicted"
            )
            % holdout
        )
        lines.append(
            f"  {'x':>4} {_('members'):>9} {_('actual'):>9} {_('predicted'):>10}"
            f"   ({_('mean purchases per member')})"
        )
        for row in holdout["by_frequency"]:
            lines.append(
                f"  {row['x']:>4} {row['members']:>9} {row['actual']:>9.3f}"
                f" {row['predicted']:>10.3f}"
            )
    lines.append(_("time: %(seconds).2f s") % {"seconds": diag.get("seconds") or 0})
    return lines


def _model_lines(result: dict | None, fallback_reason: str | None) -> list[str]:
    lines = []
    if result:
        errors = result.get("standard_errors") or {}
        for name, value in result["params"].items():
            error = f"  (se {errors[name]:.4g})" if name in errors else ""
            lines.append(f"  {name} = {value:.6g}{error}")
        lines.append(
            "  "
            + _("log-likelihood: %(ll).2f  converged: %(converged)s  iterations: %(iterations)s")
            % {
                "ll": result["log_likelihood"],
                "converged": _("yes") if result["converged"] else _("no"),
                "iterations": result["iterations"],
            }
        )
        if result["converged"] and not result.get("identified", True):
            lines.append(
                "  "
                + _(
                    "the likelihood rises towards a limit rather than a maximum: these are "
                    "the limit's parameters, without standard errors"
                )
            )
    if fallback_reason:
        lines.append("  " + _("fallback: %(reason)s") % {"reason": fallback_reason})
    return lines
