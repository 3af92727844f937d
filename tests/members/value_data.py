"""Data simulated from the value models with known parameters, for parameter-recovery tests.

BG/NBD (FHL 2005, section 2): a customer's purchase rate is Gamma(r, alpha), their dropout
probability Beta(a, b); purchases follow a Poisson process from the first one at time 0, and
after each repeat purchase the customer drops out with that probability. Gamma-Gamma: a
customer's mean-setting nu is Gamma(q, v); each purchase value Gamma(p, nu).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.utils import timezone


def bgnbd_purchase_times(
    rng: np.random.Generator, *, n: int, r, alpha, a, b, ages: np.ndarray
) -> list[list[float]]:
    """For each of ``n`` customers observed for ``ages[i]``, the times of their repeat
    purchases after the first one (at 0)."""
    rates = rng.gamma(r, 1.0 / alpha, size=n)
    dropouts = rng.beta(a, b, size=n)
    customers = []
    for rate, dropout, age in zip(rates, dropouts, ages, strict=True):
        times, now = [], 0.0
        while True:
            now += rng.exponential(1.0 / rate) if rate > 0 else np.inf
            if now > age:
                break
            times.append(now)
            if rng.random() < dropout:
                break
        customers.append(times)
    return customers


def bgnbd_summary(customers: list[list[float]], ages: np.ndarray) -> tuple[np.ndarray, ...]:
    """(x, t_x, T) of simulated customers."""
    x = np.array([len(times) for times in customers], dtype=float)
    t_x = np.array([times[-1] if times else 0.0 for times in customers])
    return x, t_x, np.asarray(ages, dtype=float)


def gamma_gamma_values(
    rng: np.random.Generator, *, counts: np.ndarray, p, q, v
) -> list[np.ndarray]:
    """For customers making ``counts[i]`` purchases, the value of each purchase."""
    nus = rng.gamma(q, 1.0 / v, size=len(counts))
    return [rng.gamma(p, 1.0 / nu, size=int(k)) for nu, k in zip(nus, counts, strict=True)]


def order_history_create(*, n: int, today: date, seed: int, bgnbd: dict, gamma_gamma: dict) -> list:
    """``n`` members whose paid orders follow BG/NBD and Gamma-Gamma with the given
    parameters (days), first purchases 100 to 700 days before ``today``, at local noon."""
    from members.models import Member, Order

    tz = timezone.get_default_timezone()
    rng = np.random.default_rng(seed)
    ages = rng.integers(100, 701, size=n)
    customers = bgnbd_purchase_times(rng, n=n, ages=ages.astype(float), **bgnbd)
    values = gamma_gamma_values(
        rng, counts=np.array([len(c) + 1 for c in customers]), **gamma_gamma
    )
    members = Member.objects.bulk_create([Member(name=f"sim{i}") for i in range(n)])
    orders, serial = [], 0
    for member, age, times, amounts in zip(members, ages, customers, values, strict=True):
        # Whole days, so a day never holds two purchases: the first at 0, then ceil(t).
        days = [0, *sorted({int(np.ceil(t)) for t in times if np.ceil(t) < age})]
        for offset, amount in zip(days, amounts, strict=False):
            serial += 1
            day = today - timedelta(days=int(age) - offset)
            orders.append(
                Order(
                    member=member,
                    external_id=f"SIM{seed}-{serial}",
                    paid_amount=Decimal(f"{amount:.2f}"),
                    gross_margin=Decimal(f"{amount * 0.4:.2f}"),
                    paid_at=datetime(day.year, day.month, day.day, 12, tzinfo=tz),
                )
            )
    Order.objects.bulk_create(orders, batch_size=2000)
    return members
