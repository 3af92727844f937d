"""Member API throughput on PostgreSQL with BENCH_MEMBERS members (default 1,000,000).

Floor: GET /api/v1/whoami/ — a bare DRF view behind the same API-key authentication, on the
same gunicorn in the same run. Targets (issue 3): the filtered member list serves >= 30% of the
floor's requests/s with p99 < 50 ms; lookup by phone >= 50%.

    make bench                         # seeds scrm_bench once (a few minutes for 1M), then runs
    BENCH_MEMBERS=100000 make bench    # smaller
"""

from __future__ import annotations

import json
import os

from bench import harness

DURATION = int(os.environ.get("BENCH_SECONDS", "10"))

SETUP = """
import json, random
from members.models import Member, Store, Tier
from scrm.api.keys import api_key_create
_key, secret = api_key_create(name="bench", scopes=["members:read"])
rng = random.Random(7)
top = Member.objects.order_by("-id").values_list("id", flat=True).first() or 0
phones = []
while len(phones) < 2000:
    ids = [rng.randint(1, top) for _ in range(500)]
    phones += [p for p in Member.objects.filter(pk__in=ids, phone__isnull=False)
               .values_list("phone", flat=True)]
store = Store.objects.order_by("code").first()
# The highest tier with a few pages of members in that store: a selective filter that still
# fills a 50-row page (an empty page would measure nothing but the scan).
tier = next(t for t in Tier.objects.order_by("-rank")
            if Member.objects.filter(home_store=store, tier=t)[:200].count() == 200)
print(json.dumps({"secret": secret, "count": Member.objects.count(), "phones": phones[:2000],
                  "store": store.code, "tier": tier.code}))
"""


def _lua_for_phones(phones: list[str]) -> str:
    items = ",".join(f'"{p[3:]}"' for p in phones)  # national numbers: the API normalises
    return (
        f"local phones = {{{items}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format(nil, '/api/v1/members/?phone=' .. phones[(i % #phones) + 1])\n"
        "end\n"
    )


def _load() -> str:
    return "/".join(f"{n:.2f}" for n in os.getloadavg())


def main() -> None:
    """Seed if needed, serve with gunicorn, load with wrk, print figures and ratios."""
    harness.ensure_bench_members()
    info = json.loads(harness.manage("shell", "-c", SETUP, capture=True).strip().splitlines()[-1])
    headers = {"Authorization": f"Api-Key {info['secret']}"}
    print(
        f"members: {info['count']:,}; gunicorn 2 sync workers; wrk 2 threads, 8 connections, "
        f"{DURATION} s per endpoint; load average {_load()} at the start"
    )
    with harness.gunicorn(workers=2) as base:
        # Warm up connections and caches so the first measurement is not penalised.
        harness.wrk("warm-up", f"{base}/api/v1/whoami/", headers=headers, duration=2)
        floor = harness.wrk(
            "floor: DRF whoami", f"{base}/api/v1/whoami/", headers=headers, duration=DURATION
        )
        listing = harness.wrk(
            "member list, store+tier filter",
            f"{base}/api/v1/members/?store={info['store']}&tier={info['tier']}&page_size=50",
            headers=headers,
            duration=DURATION,
        )
        plain = harness.wrk(
            "member list, unfiltered",
            f"{base}/api/v1/members/?page_size=50",
            headers=headers,
            duration=DURATION,
        )
        phone = harness.wrk(
            "lookup by phone",
            f"{base}/api/v1/members/",
            headers=headers,
            duration=DURATION,
            lua=_lua_for_phones(info["phones"]),
        )
    harness.print_table([floor, listing, plain, phone], floor)
    # Ratios hold only if nothing else ran: on a shared machine, say how busy it was.
    print(f"load average {_load()} at the end (this run keeps about 2 cores busy)")
    checks = [
        ("filtered list >= 30% of floor", listing.rps >= 0.30 * floor.rps),
        ("filtered list p99 < 50 ms", listing.p99_ms < 50),
        ("phone lookup >= 50% of floor", phone.rps >= 0.50 * floor.rps),
        ("no errors", not any(r.errors for r in (floor, listing, plain, phone))),
    ]
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
