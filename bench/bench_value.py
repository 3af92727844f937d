"""Predictive member value (members.services.value) on the PostgreSQL bench database as it is:
bench_members_api seeds 1M members with ~2.1M orders (the members and orders are not touched).

Targets (value issue): fitting on 100k members' summaries <= 10 s; scoring 1M members <= 20 s.
Floor: the bare per-member aggregate of paid orders (one GROUP BY, no day grouping, no
writes), measured in the same run. Runs measured:

  fit            value_models_fit as of now: the summary of every member's orders, then a
                 sample of 100k members (SCRM_VALUE_FIT_MAX_MEMBERS), BG/NBD and Gamma-Gamma;
                 "from summaries" is the second part alone (the target)
  fit, holdout   the same with the calibration end 180 days ago, with the holdout check
  score, first   member_value_score with the value table emptied first (it is derived data):
                 every row inserted (one per member with a paid order, ~790k)
  score, again   the same again: every row rewritten
  refresh        the nightly job: one summary, the fit, the scoring
  due today      members_due_for_repurchase(on_date=today).count()
  segment count  p_alive >= 0.5 and predicted CLV >= 500

    python bench/run.py value
"""

from __future__ import annotations

import json

from bench import harness

FIT_TARGET_SECONDS = 10
SCORE_TARGET_SECONDS = 20

SNIPPET = """
import json, time
from datetime import timedelta
from django.db import connection, transaction
from django.utils import timezone
from members.models import Member, MemberValue, Order
from members.segments import segment_members
from members.selectors import members_due_for_repurchase
from members.services import value

def timed(fn):
    started = time.monotonic()
    result = fn()
    return round(time.monotonic() - started, 2), result

out = {"members": Member.objects.count(), "orders": Order.objects.filter(status="paid").count()}
floor_sql = '''SELECT COUNT(*) FROM (SELECT member_id, COUNT(*), SUM(paid_amount),
    MIN(paid_at), MAX(paid_at) FROM members_order WHERE status = 'paid' GROUP BY member_id) s'''
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute(f"SET LOCAL work_mem = '{value.POSTGRES_WORK_MEM}'")
    out["floor"], _ = timed(lambda: cursor.execute(floor_sql))
now = timezone.now()
out["fit"], fit = timed(lambda: value.value_models_fit(now=now))
out["fit_diag"] = fit.diagnostics
out["fit_params"] = fit.params
out["fit_models"] = [fit.purchase_model, fit.spend_model]
today = timezone.localdate(now)
out["holdout"], holdout_fit = timed(
    lambda: value.value_models_fit(calibration_end=today - timedelta(days=180), now=now))
out["holdout_diag"] = holdout_fit.diagnostics.get("holdout")
with connection.cursor() as cursor:
    cursor.execute("TRUNCATE members_membervalue")
out["first"], out["first_result"] = timed(lambda: value.member_value_score(fit=fit, now=now))
out["again"], out["again_result"] = timed(lambda: value.member_value_score(fit=fit, now=now))
out["rows"] = MemberValue.objects.count()
out["refresh"], out["refresh_result"] = timed(lambda: value.member_value_refresh(now=now))
out["due"], out["due_count"] = timed(
    lambda: members_due_for_repurchase(on_date=today).count())
tree = {"all": [{"field": "p_alive", "op": "gte", "value": 0.5},
                {"field": "predicted_clv", "op": "gte", "value": 500}]}
out["segment"], out["segment_count"] = timed(lambda: segment_members(tree).count())
print(json.dumps(out, default=str))
"""


def main() -> None:
    """Time fitting and scoring on the bench database and print figures against targets."""
    harness.ensure_bench_members()
    out = json.loads(harness.manage("shell", "-c", SNIPPET, capture=True).strip().splitlines()[-1])
    diag = out["fit_diag"]
    print(
        f"members: {out['members']:,}; paid orders: {out['orders']:,};"
        f" value rows (members who bought): {out['rows']:,}"
    )
    print(
        f"fit: {out['fit_models'][0]} + {out['fit_models'][1]} on {diag['members_fitted']:,} of"
        f" {diag['members_in_window']:,} members in the window"
        f" ({diag['repeat_buyers']:,} repeat buyers,"
        f" {diag['purchases']['fit']['patterns']:,} distinct (x, t_x, T))"
    )
    print(f"  params: {json.dumps(out['fit_params'])}")
    bgnbd, gg = diag["purchases"]["fit"], diag["spend"]["fit"] or {}
    print(
        f"  BG/NBD {bgnbd['seconds']:.2f} s, {bgnbd['iterations']} iterations,"
        f" converged {bgnbd['converged']}; Gamma-Gamma {gg.get('seconds', 0):.2f} s,"
        f" converged {gg.get('converged')}"
    )
    holdout = out["holdout_diag"] or {}
    if holdout:
        print(
            f"  holdout (calibration end 180 days ago): {holdout['actual']:,} purchases made,"
            f" {holdout['predicted']:,.0f} predicted"
        )
    print(f"{'run':<40}{'seconds':>9}{'vs floor':>10}{'target':>9}")

    def row(label: str, seconds: float, target: float | None = None) -> None:
        ratio = seconds / out["floor"] if out["floor"] else 0
        print(
            f"{label:<40}{seconds:>9.2f}{ratio:>9.1f}x"
            + (f"{target:>8.0f}s" if target is not None else "")
        )

    row("floor: GROUP BY member over orders", out["floor"])
    row("fit, from summaries (100k sample)", diag["fit_seconds"], FIT_TARGET_SECONDS)
    row("fit, orders read included", out["fit"])
    row("fit with holdout check", out["holdout"])
    row("score 1M members, first (all inserted)", out["first"], SCORE_TARGET_SECONDS)
    row("score 1M members, again (all rewritten)", out["again"], SCORE_TARGET_SECONDS)
    row("nightly refresh (fit + score)", out["refresh"])
    row(f"due for repurchase today ({out['due_count']:,})", out["due"])
    row(f"segment p_alive & CLV ({out['segment_count']:,})", out["segment"])
    print(f"  first score timings: {out['first_result']['timings']}")
    print(f"  again score timings: {out['again_result']['timings']}")
    refresh = out["refresh_result"]
    print(
        f"  nightly refresh: {refresh.get('purchase_model')} + {refresh.get('spend_model')},"
        f" fit {refresh.get('fit_seconds')} s, timings {refresh.get('timings')}"
    )
    checks = [
        (
            f"fit from summaries <= {FIT_TARGET_SECONDS} s",
            diag["fit_seconds"] <= FIT_TARGET_SECONDS,
        ),
        (f"first score <= {SCORE_TARGET_SECONDS} s", out["first"] <= SCORE_TARGET_SECONDS),
        (f"next score <= {SCORE_TARGET_SECONDS} s", out["again"] <= SCORE_TARGET_SECONDS),
        (
            "the real models were fitted (not the fallback)",
            out["fit_models"] == ["bgnbd", "gamma_gamma"],
        ),
        ("a row per member who bought", out["rows"] == out["again_result"]["members"]),
        ("no prediction was non-finite", out["again_result"]["not_finite"] == 0),
    ]
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
