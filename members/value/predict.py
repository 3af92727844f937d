"""What the fitted models predict for a member, vectorised over arrays of members.

A purchase model knows, from a member's repeat purchases ``x``, the time of the last one
``t_x`` and the member's age ``T`` (time since the first purchase, in the fit's unit):

- ``p_alive``: the probability that the member is still a customer;
- ``expected(t)``: the expected number of purchases in the next ``t``;
- ``purchase_gap``: the time from the last purchase to the next one at the member's expected
  purchase rate (the expected next purchase is the last one plus this gap).

A spend model knows the expected value of the member's future purchases. The formulas, and
how to read them, are in docs/value.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, hyp2f1


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD (Fader, Hardie & Lee 2005): while alive a member buys at a rate drawn from
    Gamma(r, alpha); after each purchase they drop out with a probability drawn from
    Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    name = "bgnbd"

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(alive | x, t_x, T) (Hardie's note 021). 1 for members without a repeat purchase:
        the model lets a member drop out only right after a purchase."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        log_odds_dead = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(
            a / (b + np.maximum(x, 1) - 1)
        )
        return np.where(x > 0, expit(-log_odds_dead), 1.0)

    def expected(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T]: equation (10) of FHL 2005."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        big_a, big_b, big_c = r + x, b + x, a + b + x - 1
        z = t / (alpha + T + t)
        with np.errstate(all="ignore"):
            log_hyp = np.log(hyp2f1(big_a, big_b, big_c, z))
            # Where 2F1 overflows, Euler's transformation gives the same value:
            # 2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z).
            overflow = ~np.isfinite(log_hyp)
            if overflow.any():
                alt = np.log(hyp2f1(big_c - big_a, big_c - big_b, big_c, z)) + (
                    big_c - big_a - big_b
                ) * np.log1p(-z)
                log_hyp = np.where(overflow, alt, log_hyp)
            first = (a + b + x - 1) / (a - 1)
            second = -np.expm1(log_hyp + (r + x) * np.log((alpha + T) / (alpha + T + t)))
            denominator = 1 + (x > 0) * (a / (b + np.maximum(x, 1) - 1)) * (
                (alpha + T) / (alpha + t_x)
            ) ** (r + x)
            return np.maximum(first * second / denominator, 0.0)

    def purchase_gap(self, x: np.ndarray, t_x: np.ndarray) -> np.ndarray:
        """1 / E[rate] as of the last purchase: (alpha + t_x) / (r + x). The member's own
        average gap t_x / x, shrunk towards the population's alpha / r."""
        return (self.alpha + t_x) / (self.r + x)


@dataclass(frozen=True)
class AverageInterval:
    """The fallback for shops with too little history to fit BG/NBD: members buy every
    ``interval`` on average (the shop's mean gap between purchases), each at their own
    average gap shrunk towards it as if they had one more gap of that length."""

    interval: float

    name = "average_interval"

    def member_interval(self, x: np.ndarray, t_x: np.ndarray) -> np.ndarray:
        return (self.interval + t_x) / (1 + x)

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The chance that a member still buying every ``member_interval`` on average (a
        Poisson process) would have gone this long without a purchase."""
        return np.exp(-(T - t_x) / self.member_interval(x, t_x))

    def expected(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self.p_alive(x, t_x, T) * t / self.member_interval(x, t_x)

    def purchase_gap(self, x: np.ndarray, t_x: np.ndarray) -> np.ndarray:
        return self.member_interval(x, t_x)


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma (Fader, Hardie & Lee 2005, RFM and CLV): a member's purchase values vary
    around their own mean, which varies across members."""

    p: float
    q: float
    v: float

    name = "gamma_gamma"

    def expected_value(
        self, x: np.ndarray, repeat_mean: np.ndarray, overall_mean: np.ndarray
    ) -> np.ndarray:
        """E[value of a purchase | x, mean repeat value]: a weighted average of the member's
        mean repeat value and the population mean p v / (q - 1) (equation (5) of Hardie's
        note 025). Members without a repeat purchase get the population mean."""
        p, q, v = self.p, self.q, self.v
        repeat_mean = np.where(x > 0, repeat_mean, 0.0)
        return p * (v + x * repeat_mean) / (p * x + q - 1)

    @property
    def population_mean(self) -> float:
        return self.p * self.v / (self.q - 1)


@dataclass(frozen=True)
class AverageSpend:
    """The fallback spend model: a member's future purchases are worth their past average
    (all purchases, the first included)."""

    name = "average"

    def expected_value(
        self, x: np.ndarray, repeat_mean: np.ndarray, overall_mean: np.ndarray
    ) -> np.ndarray:
        return np.asarray(overall_mean, dtype=np.float64)


PurchaseModel = BgNbd | AverageInterval
SpendModel = GammaGamma | AverageSpend


def discounted_purchases(
    model: PurchaseModel,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    *,
    horizon: float,
    step: float,
    discount_rate: float,
    discount_period: float,
    expected_at: dict[float, np.ndarray] | None = None,
) -> np.ndarray:
    """Expected purchases over ``horizon``, each step's purchases discounted to today:
    sum over steps k of (E[Y(t_k)] - E[Y(t_k-1)]) / (1 + discount_rate) ^ (t_k /
    discount_period), with t_k = min(k * step, horizon). Times a value per purchase, this is
    the CLV (as lifetimes' customer_lifetime_value, which uses 30-day steps). ``expected_at``
    caches E[Y(t)] by t across calls."""
    cache = expected_at if expected_at is not None else {}
    total = np.zeros(np.shape(x), dtype=np.float64)
    previous = np.zeros_like(total)
    steps = max(1, math.ceil(horizon / step - 1e-9))
    for k in range(1, steps + 1):
        t = min(k * step, horizon)
        if t not in cache:
            cache[t] = model.expected(t, x, t_x, T)
        current = cache[t]
        total += (current - previous) / (1 + discount_rate) ** (t / discount_period)
        previous = current
    return total
