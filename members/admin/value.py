"""The value model fits, read-only: parameters and diagnostics as the fit_value_models command
prints them (docs/value.md). Fits are made by the nightly job and the command, never here."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from members.admin.base import ReadOnlyAdmin
from members.models import ValueModelFit
from members.value.report import fit_report


@admin.register(ValueModelFit)
class ValueModelFitAdmin(ReadOnlyAdmin):
    list_display = (
        "fitted_at",
        "calibration_end",
        "purchase_model",
        "spend_model",
        "n_members",
        "converged",
        "log_likelihood",
        "parameters",
    )
    list_filter = ("purchase_model", "spend_model", "converged")
    ordering = ("-fitted_at", "-id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "fitted_at",
                    "calibration_end",
                    "purchase_model",
                    "spend_model",
                    "n_members",
                    "converged",
                    "log_likelihood",
                )
            },
        ),
        (_("Report"), {"fields": ("report",)}),
        (_("Raw values"), {"fields": ("params_json", "diagnostics_json")}),
    )
    readonly_fields = ("report", "params_json", "diagnostics_json")

    @admin.display(description=_("parameters"))
    def parameters(self, obj):
        params = obj.params or {}
        shown = {**(params.get("bgnbd") or {}), **(params.get("gamma_gamma") or {})}
        if not params.get("bgnbd"):
            interval = (params.get("average_interval") or {}).get("interval_days")
            if interval is not None:
                shown["interval_days"] = interval
        return ", ".join(f"{name}={value:.4g}" for name, value in shown.items()) or "-"

    @admin.display(description=_("report"))
    def report(self, obj):
        return format_html('<pre class="value-fit-report">{}</pre>', "\n".join(fit_report(obj)))

    @admin.display(description=_("parameters (JSON)"))
    def params_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.params, indent=2, ensure_ascii=False))

    @admin.display(description=_("diagnostics (JSON)"))
    def diagnostics_json(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.diagnostics, indent=2, ensure_ascii=False)
        )
