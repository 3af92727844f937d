"""The value models' maximum-likelihood fits (members.value.fit), without the database:
gradients, parameter recovery on data simulated from known parameters, degenerate inputs."""

import numpy as np
import pytest

from members.value.fit import (
    ValueFitError,
    bgnbd_fit,
    bgnbd_log_likelihood,
    compress,
    gamma_gamma_fit,
    gamma_gamma_log_likelihood,
)
from tests.members import value_data

TRUE_BGNBD = {"r": 0.6, "alpha": 45.0, "a": 0.9, "b": 3.5}  # days: a purchase every ~75 days
TRUE_GG = {"p": 4.0, "q": 3.0, "v": 120.0}  # population mean value p v / (q - 1) = 240


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(7)
    n = 20_000
    ages = rng.integers(60, 731, size=n).astype(float)
    customers = value_data.bgnbd_purchase_times(rng, n=n, ages=ages, **TRUE_BGNBD)
    return value_data.bgnbd_summary(customers, ages)


def _numeric_gradient(loglik, log_params, args, step=1e-6):
    grads = []
    for unit in np.eye(len(log_params)):
        up, _ = loglik(log_params + step * unit, *args)
        down, _ = loglik(log_params - step * unit, *args)
        grads.append((up - down) / (2 * step))
    return np.array(grads)


def test_bgnbd_gradient_matches_finite_differences(simulated):
    x, t_x, age = simulated
    args = (x[:2000], t_x[:2000], age[:2000], np.ones(2000))
    log_params = np.log([0.4, 30.0, 1.3, 2.2])
    _value, grad = bgnbd_log_likelihood(log_params, *args)
    np.testing.assert_allclose(
        grad, _numeric_gradient(bgnbd_log_likelihood, log_params, args), rtol=1e-5
    )


def test_gamma_gamma_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 12, size=500).astype(float)
    m = rng.gamma(5.0, 40.0, size=500)
    args = (x, m, np.ones(500))
    log_params = np.log([3.0, 2.0, 80.0])
    _value, grad = gamma_gamma_log_likelihood(log_params, *args)
    np.testing.assert_allclose(
        grad, _numeric_gradient(gamma_gamma_log_likelihood, log_params, args), rtol=1e-5
    )


def test_bgnbd_recovers_known_parameters(simulated):
    x, t_x, age = simulated
    result = bgnbd_fit(x, t_x, age)
    assert result.converged
    assert result.customers == x.size
    for name, true in TRUE_BGNBD.items():
        estimate, error = result.params[name], result.standard_errors[name]
        # Within three standard errors, and the errors are small enough to mean something.
        assert abs(estimate - true) < 3 * error, (name, estimate, error)
        assert error < 0.2 * true, (name, error)


def test_gamma_gamma_recovers_known_parameters():
    rng = np.random.default_rng(11)
    counts = rng.integers(2, 15, size=6000)
    values = value_data.gamma_gamma_values(rng, counts=counts, **TRUE_GG)
    x = counts.astype(float)
    m = np.array([v.mean() for v in values])
    result = gamma_gamma_fit(x, m)
    assert result.converged
    for name, true in TRUE_GG.items():
        estimate, error = result.params[name], result.standard_errors[name]
        assert abs(estimate - true) < 3 * error, (name, estimate, error)
    population_mean = result.params["p"] * result.params["v"] / (result.params["q"] - 1)
    assert population_mean == pytest.approx(240, rel=0.05)


def test_weights_give_the_same_fit_as_repeated_rows(simulated):
    x, t_x, age = (a[:3000] for a in simulated)
    plain = bgnbd_fit(x, t_x, age)
    (cx, ct_x, cage), weights = compress(x, t_x, age)
    assert weights.sum() == 3000 and cx.size < 3000
    weighted = bgnbd_fit(cx, ct_x, cage, weights=weights)
    for name in TRUE_BGNBD:
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-4)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-9)


def test_the_time_unit_only_rescales_alpha(simulated):
    x, t_x, age = (a[:3000] for a in simulated)
    days = bgnbd_fit(x, t_x, age)
    weeks = bgnbd_fit(x, t_x / 7, age / 7)
    assert weeks.params["alpha"] == pytest.approx(days.params["alpha"] / 7, rel=1e-4)
    for name in ("r", "a", "b"):
        assert weeks.params[name] == pytest.approx(days.params[name], rel=1e-4)


# --- degenerate inputs -----------------------------------------------------------------------


def test_no_repeat_buyers_is_a_clear_error():
    with pytest.raises(ValueFitError, match="nobody made a repeat purchase"):
        bgnbd_fit(np.zeros(50), np.zeros(50), np.full(50, 100.0))


def test_one_member_fits_without_nan_or_is_not_converged():
    result = bgnbd_fit(np.array([3.0]), np.array([40.0]), np.array([90.0]))
    # One customer cannot identify four parameters: whatever the optimiser reports, the
    # numbers are finite and a non-converged fit is flagged, never silently used.
    assert all(np.isfinite(v) for v in result.params.values())
    assert np.isfinite(result.log_likelihood)
    if not result.converged:
        assert result.standard_errors is None


@pytest.mark.parametrize(
    "x, t_x, age, message",
    [
        ([1.0, np.nan], [1.0, 0.0], [5.0, 5.0], "finite"),
        ([1.5, 1.0], [1.0, 1.0], [5.0, 5.0], "whole number"),
        ([-1.0, 1.0], [0.0, 1.0], [5.0, 5.0], "whole number"),
        ([1.0, 1.0], [6.0, 1.0], [5.0, 5.0], "recency"),
        ([0.0, 1.0], [2.0, 1.0], [5.0, 5.0], "recency"),
        ([1.0], [1.0, 2.0], [5.0], "same length"),
    ],
)
def test_invalid_bgnbd_inputs_are_refused(x, t_x, age, message):
    with pytest.raises(ValueFitError, match=message):
        bgnbd_fit(np.array(x), np.array(t_x), np.array(age))


@pytest.mark.parametrize(
    "x, m, message",
    [
        ([], [], "no repeat buyers"),
        ([1.0, 2.0], [10.0, 0.0], "spend > 0"),
        ([0.0, 2.0], [10.0, 5.0], "frequency >= 1"),
        ([1.0, 2.0], [np.inf, 5.0], "finite"),
    ],
)
def test_invalid_gamma_gamma_inputs_are_refused(x, m, message):
    with pytest.raises(ValueFitError, match=message):
        gamma_gamma_fit(np.array(x), np.array(m))


def test_identical_spends_do_not_converge_to_a_usable_fit():
    # Every repeat buyer spends exactly the same: the spread within and across customers is
    # zero and the likelihood grows without bound as p and q run off to the search boundary.
    # The fit says so instead of returning them.
    result = gamma_gamma_fit(np.array([1.0, 2.0, 3.0] * 100), np.full(300, 99.0))
    assert not result.converged
    assert all(np.isfinite(v) for v in result.params.values())


def test_a_likelihood_rising_to_a_limit_converges_unidentified():
    # Two customers buying like clockwork: the likelihood keeps rising as r and alpha grow
    # together (no spread in purchase rates) towards a Poisson limit. The optimiser reaches
    # it within tolerance; the parameters have no standard errors and the flag says so.
    result = bgnbd_fit(np.array([3.0, 1.0]), np.array([180.0, 60.0]), np.array([200.0, 100.0]))
    assert result.converged
    assert not result.identified and result.standard_errors is None
    assert result.params["r"] > 1000 and result.params["alpha"] > 1000
    # The limit's rate: 4 purchases in 300 days of observation, r / alpha.
    assert result.params["r"] / result.params["alpha"] == pytest.approx(4 / 300, rel=0.01)


def test_same_dropout_for_everyone_is_a_usable_limit():
    # Simulated with a dropout probability of 0.1 for every customer (Beta(a, b) with a and
    # b huge): a and b are large and poorly determined (or run off together to the limit),
    # their ratio and the rate parameters are recovered.
    rng = np.random.default_rng(17)
    n = 20_000
    ages = rng.integers(60, 731, size=n).astype(float)
    customers = value_data.bgnbd_purchase_times(
        rng, n=n, ages=ages, r=0.6, alpha=45.0, a=1e6, b=9e6
    )
    result = bgnbd_fit(*value_data.bgnbd_summary(customers, ages))
    assert result.converged
    p = result.params["a"] / (result.params["a"] + result.params["b"])
    assert p == pytest.approx(0.1, rel=0.1)
    assert result.params["r"] == pytest.approx(0.6, rel=0.1)
    assert result.params["alpha"] == pytest.approx(45.0, rel=0.15)
