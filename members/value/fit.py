"""Maximum-likelihood fits of the BG/NBD purchase model and the Gamma-Gamma spend model.

BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
the Pareto/NBD Model", Marketing Science 24(2); the log-likelihood in the form of Hardie's
note 004 (section 7). Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value
Curves for Customer Base Analysis", JMR 42(4); Hardie's note 025, equation (1a).

Both log-likelihoods come with their analytic gradients (digamma terms), vectorised over
customers (functions of the parameters are taken once per distinct input value), and are
maximised with L-BFGS-B over the log-parameters, so that every parameter
stays positive without constraints. Time and money are rescaled during the optimisation (the
largest age becomes 10, the mean spend 1) because parameters of very different sizes slow the
optimiser down; the results, log-likelihoods and standard errors are reported in the caller's
units. Customers with the same inputs can be passed once with a weight (``compress``): with
purchase days as the time unit, the hundreds of thousands of one-time buyers collapse into one
row per age.

Everything here is plain numpy: the callers decide where the arrays come from
(members.value.summary) and what happens when a fit fails (members.services.value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")
# Log-parameters are kept within +-15 (about 3e-7 to 3e6 after rescaling). Where the likelihood
# rises towards a limit instead of a maximum, the optimiser stops on that bound (see _maximise).
LOG_BOUND = 15.0
# Parameters are identified when the log of each is known to within this standard error (a
# factor of e^5, about 150): beyond, the data cannot tell the value from ones far off.
MAX_LOG_STANDARD_ERROR = 5.0
# Converged means flat: no log-parameter can change the mean log-likelihood per customer by
# more than this per unit, wherever the optimiser stopped.
FLAT_GRADIENT = 1e-4
# The optimiser's rescaled time: the oldest customer's age becomes this many units.
SCALED_MAX_AGE = 10.0


LogLikelihood = Callable[[np.ndarray], tuple[float, np.ndarray]]


class ValueFitError(ValueError):
    """The data cannot be fitted (nothing to fit, or invalid values); the message says why."""


@dataclass(frozen=True)
class FitResult:
    """A maximum-likelihood estimate. ``log_likelihood`` is the total over customers (weights
    included) in the caller's units.

    ``identified`` is False when the likelihood has no clear interior maximum but rises
    towards a limit, or runs almost flat, along some direction that the optimiser followed
    until within tolerance: e.g. everyone has the same dropout probability, and BG/NBD's a
    and b grow without bound at a fixed a / (a + b). The parameters are then that limit's
    (large but finite, their predictions stable) and have no standard errors: the Hessian is
    not negative definite, or some log-parameter's standard error exceeds
    MAX_LOG_STANDARD_ERROR. ``standard_errors`` come from the inverse Hessian otherwise."""

    params: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    message: str
    standard_errors: dict[str, float] | None
    customers: int
    identified: bool = True

    def as_dict(self) -> dict:
        return {
            "params": self.params,
            "log_likelihood": self.log_likelihood,
            "converged": self.converged,
            "iterations": self.iterations,
            "message": self.message,
            "standard_errors": self.standard_errors,
            "customers": self.customers,
            "identified": self.identified,
        }


def compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the given equal-length columns, and how often each occurs (weights)."""
    stacked = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(np.float64)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of products without BLAS: OpenBLAS spreads a long dot product over threads, and
    on a busy two-core machine those threads wait on each other (measured: a 40k-element
    dot taking 16 ms instead of 0.02 ms; the fit 20 times slower)."""
    return float(np.einsum("i,i->", a, b))


# --- BG/NBD ----------------------------------------------------------------------------------


class _BgNbdData:
    """BG/NBD's inputs with what does not depend on the parameters done once. Purchase days
    make x, t_x and T take few distinct values (dozens of frequencies, hundreds of days), so
    the log-gammas, digammas and logs are taken per distinct value and gathered, leaving two
    transcendental functions per customer and evaluation."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray):
        self.x, self.weights = x, weights
        self.total = float(weights.sum())
        self.x_values, self.x_index = np.unique(x, return_inverse=True)
        self.t_values, self.t_index = np.unique(t_x, return_inverse=True)
        self.T_values, self.T_index = np.unique(T, return_inverse=True)
        self.x_weights = np.bincount(self.x_index, weights, minlength=self.x_values.size)
        self.repeat = x > 0
        # x - 1 for repeat buyers (b + x - 1 only matters for them; kept positive for others).
        self.x_less_one = np.maximum(self.x_values, 1) - 1

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        xs, w, x_w = self.x_values, self.weights, self.x_weights
        per_x = (
            gammaln(r + xs)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(a + b)
            + gammaln(b + xs)
            - gammaln(b)
            - gammaln(a + b + xs)
        )
        log_b_x1 = np.log(b + self.x_less_one)
        log_alpha_T = np.log(alpha + self.T_values)[self.T_index]
        log_alpha_tx = np.log(alpha + self.t_values)[self.t_index]
        r_x = r + self.x
        a3 = -r_x * log_alpha_T
        a4 = np.where(
            self.repeat, (np.log(a) - log_b_x1)[self.x_index] - r_x * log_alpha_tx, -np.inf
        )
        tail = np.logaddexp(a3, a4)
        # Each customer's shares of the two terms of the sum inside the last logarithm.
        w4 = w * np.exp(a4 - tail)
        w3 = w - w4
        ll = _dot(x_w, per_x) + _dot(w, tail)
        psi_ab, psi_abx = digamma(a + b), digamma(a + b + xs)
        d_r = (
            _dot(x_w, digamma(r + xs) - digamma(r) + np.log(alpha))
            - _dot(w3, log_alpha_T)
            - _dot(w4, log_alpha_tx)
        )
        inv_T = (1.0 / (alpha + self.T_values))[self.T_index]
        inv_tx = (1.0 / (alpha + self.t_values))[self.t_index]
        d_alpha = self.total * r / alpha - _dot(w3 * r_x, inv_T) - _dot(w4 * r_x, inv_tx)
        d_a = _dot(x_w, psi_ab - psi_abx) + w4.sum() / a
        w4_by_x = np.bincount(self.x_index, w4, minlength=xs.size)
        d_b = _dot(x_w, psi_ab + digamma(b + xs) - digamma(b) - psi_abx) - _dot(
            w4_by_x, 1.0 / (b + self.x_less_one)
        )
        return float(ll), np.array([r * d_r, alpha * d_alpha, a * d_a, b * d_b])


def bgnbd_log_likelihood(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    """Total BG/NBD log-likelihood of customers with ``x`` repeat purchases, the last at
    ``t_x`` and observed for ``T`` since their first purchase, and its gradient with respect
    to log(r), log(alpha), log(a), log(b)."""
    return _BgNbdData(x, t_x, T, weights)(log_params)


def bgnbd_fit(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, weights: np.ndarray | None = None
) -> FitResult:
    """Fit BG/NBD to repeat purchases ``x``, recency ``t_x`` and age ``T`` (any time unit;
    alpha comes out in that unit). ValueFitError when the inputs are invalid or nobody made a
    repeat purchase (the likelihood then has no maximum)."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    weights = _weights(weights, x)
    _check_same_length(x, t_x, T, weights)
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise ValueFitError("BG/NBD: frequency, recency and age must be finite numbers")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueFitError("BG/NBD: frequency must be a whole number >= 0")
    if (t_x < 0).any() or (t_x > T).any() or ((x == 0) & (t_x != 0)).any():
        raise ValueFitError("BG/NBD: need 0 <= recency <= age, and recency 0 without repeats")
    if not (weights[x > 0] > 0).any():
        raise ValueFitError("BG/NBD: nobody made a repeat purchase; there is nothing to fit")
    scale = SCALED_MAX_AGE / T.max()

    def unscale(log_params: np.ndarray) -> np.ndarray:
        # alpha is a time: back to the caller's unit (scaled alpha = scale * alpha).
        return log_params - np.array([0.0, np.log(scale), 0.0, 0.0])

    return _maximise(
        _BgNbdData(x, t_x * scale, T * scale, weights),
        _BgNbdData(x, t_x, T, weights),
        BGNBD_PARAMS,
        unscale,
    )


# --- Gamma-Gamma -----------------------------------------------------------------------------


class _GammaGammaData:
    """Gamma-Gamma's inputs with what does not depend on the parameters done once: terms in
    x only per distinct frequency, and the sums over log(m) and log(x), leaving one log per
    customer and evaluation."""

    def __init__(self, x: np.ndarray, m: np.ndarray, weights: np.ndarray):
        self.weights, self.total = weights, float(weights.sum())
        self.x_values, self.x_index = np.unique(x, return_inverse=True)
        self.x_weights = np.bincount(self.x_index, weights, minlength=self.x_values.size)
        self.x, self.xm = x, x * m
        self.wx = weights * x
        log_m, log_x = np.log(m), np.log(x)
        self.sum_w_log_m = float(_dot(weights, log_m))
        self.sum_wx_log_mx = float(_dot(self.wx, log_m + log_x))

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = np.exp(log_params)
        xs, x_w, w, total = self.x_values, self.x_weights, self.weights, self.total
        pxs = p * xs
        log_xm_v = np.log(self.xm + v)
        w_pxq = w * (p * self.x + q)
        ll = (
            _dot(x_w, gammaln(pxs + q) - gammaln(pxs))
            - total * gammaln(q)
            + total * q * np.log(v)
            + p * self.sum_wx_log_mx
            - self.sum_w_log_m
            - _dot(w_pxq, log_xm_v)
        )
        psi_pxq = digamma(pxs + q)
        d_p = _dot(x_w * xs, psi_pxq - digamma(pxs)) + self.sum_wx_log_mx - _dot(self.wx, log_xm_v)
        d_q = _dot(x_w, psi_pxq) - total * digamma(q) + total * np.log(v) - _dot(w, log_xm_v)
        d_v = total * q / v - _dot(w_pxq, 1.0 / (self.xm + v))
        return float(ll), np.array([p * d_p, q * d_q, v * d_v])


def gamma_gamma_log_likelihood(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    """Total Gamma-Gamma log-likelihood of customers with ``x`` repeat purchases of mean
    value ``m`` (> 0), and its gradient with respect to log(p), log(q), log(v)."""
    return _GammaGammaData(x, m, weights)(log_params)


def gamma_gamma_fit(
    x: np.ndarray, m: np.ndarray, *, weights: np.ndarray | None = None
) -> FitResult:
    """Fit Gamma-Gamma to repeat buyers' frequency ``x`` (>= 1) and mean repeat spend ``m``
    (> 0; v comes out in the money unit of ``m``)."""
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    weights = _weights(weights, x)
    _check_same_length(x, m, weights)
    if x.size == 0 or not (weights > 0).any():
        raise ValueFitError("Gamma-Gamma: no repeat buyers with a positive spend to fit")
    if not (np.isfinite(x).all() and np.isfinite(m).all()):
        raise ValueFitError("Gamma-Gamma: frequency and spend must be finite numbers")
    if (x < 1).any() or (m <= 0).any():
        raise ValueFitError("Gamma-Gamma: needs frequency >= 1 and a mean spend > 0")
    scale = 1.0 / np.average(m, weights=weights)

    def unscale(log_params: np.ndarray) -> np.ndarray:
        # v is money: back to the caller's unit (scaled v = scale * v).
        return log_params - np.array([0.0, 0.0, np.log(scale)])

    return _maximise(
        _GammaGammaData(x, m * scale, weights),
        _GammaGammaData(x, m, weights),
        GAMMA_GAMMA_PARAMS,
        unscale,
    )


# --- shared ----------------------------------------------------------------------------------


def _weights(weights, x: np.ndarray) -> np.ndarray:
    if weights is None:
        return np.ones_like(x)
    weights = np.asarray(weights, dtype=np.float64)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueFitError("weights must be finite and >= 0")
    return weights


def _check_same_length(*arrays: np.ndarray) -> None:
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueFitError("inputs must be one-dimensional arrays of the same length")


def _maximise(
    scaled: LogLikelihood,
    original: LogLikelihood,
    names: tuple[str, ...],
    unscale: Callable[[np.ndarray], np.ndarray],
) -> FitResult:
    """Maximise ``scaled`` (the likelihood of the rescaled data) over the log-parameters and
    report in the caller's units through ``unscale`` and ``original``."""
    total = scaled.total

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        # The mean negative log-likelihood: the same tolerances for 100 or 1M customers.
        with np.errstate(all="ignore"):
            value, grad = scaled(log_params)
        if not np.isfinite(value) or not np.isfinite(grad).all():
            return np.inf, np.zeros_like(log_params)
        return -value / total, -grad / total

    result = minimize(
        objective,
        np.zeros(len(names)),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(names),
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
    )
    log_params = unscale(result.x)
    with np.errstate(all="ignore"):
        log_likelihood, _grad = original(log_params)
    on_boundary = bool((np.abs(result.x) >= LOG_BOUND - 1e-6).any())
    _value, scaled_grad = objective(result.x)
    flat = bool(np.max(np.abs(scaled_grad)) < FLAT_GRADIENT)
    # L-BFGS-B reports success when the objective stops improving (its gradient test ignores
    # components pushing against a bound) and "ABNORMAL" when a line search cannot improve
    # in floating point. Inside the bounds, success is a maximum. On a bound it is one only if
    # the likelihood is flat there: still rising means the data pull the parameter further.
    converged = (
        np.isfinite(log_likelihood)
        and np.isfinite(log_params).all()
        and (flat or (bool(result.success) and not on_boundary))
    )
    message = str(result.message)
    if on_boundary and not converged:
        message = f"a parameter reached the search boundary ({message})"
    errors = _standard_errors(original, log_params, names) if converged else None
    params = np.exp(log_params)
    return FitResult(
        params={name: float(value) for name, value in zip(names, params, strict=True)},
        log_likelihood=float(log_likelihood),
        converged=bool(converged),
        iterations=int(result.nit),
        message=message,
        standard_errors=errors,
        customers=int(round(total)),
        identified=bool(converged and errors is not None),
    )


def _standard_errors(loglik: LogLikelihood, log_params: np.ndarray, names) -> dict | None:
    """Standard errors of the parameters from the observed information: the Hessian of the
    log-likelihood in log-parameters by central differences of the analytic gradient, then
    the delta method (se(theta) = theta * se(log theta)). None when the parameters are not
    identified (see FitResult)."""
    k = len(log_params)
    hessian = np.empty((k, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = 1e-5
        with np.errstate(all="ignore"):
            _up, grad_up = loglik(log_params + step)
            _down, grad_down = loglik(log_params - step)
        hessian[i] = (grad_up - grad_down) / 2e-5
    hessian = (hessian + hessian.T) / 2
    try:
        covariance = np.linalg.inv(-hessian)
    except np.linalg.LinAlgError:
        return None
    variances = np.diag(covariance)
    if not np.isfinite(variances).all() or (variances <= 0).any():
        return None
    if (np.sqrt(variances) > MAX_LOG_STANDARD_ERROR).any():
        return None
    errors = np.exp(log_params) * np.sqrt(variances)
    return {name: float(value) for name, value in zip(names, errors, strict=True)}
