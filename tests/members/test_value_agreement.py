"""Agreement with an independent implementation: the lifetimes package (a test-only
dependency) on the CDNOW sample it bundles (2,357 customers, weeks; FHL 2005's data set).

The CSV is read from the installed package directly: lifetimes.datasets imports
pkg_resources, which setuptools >= 82 no longer ships (FACTS.md).
"""

import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():
    # lifetimes sets a pandas option that pandas 3 deprecates, at import.
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter

from members.value.fit import bgnbd_fit, gamma_gamma_fit
from members.value.predict import BgNbd, GammaGamma, discounted_purchases

CDNOW = (
    Path(find_spec("lifetimes").submodule_search_locations[0])
    / "datasets"
    / "cdnow_customers_summary_with_transactions.csv"
)


@pytest.fixture(scope="module")
def cdnow():
    data = pd.read_csv(CDNOW)
    return (
        data["x"].to_numpy(dtype=float),
        data["t_x"].to_numpy(dtype=float),
        data["T"].to_numpy(dtype=float),
        data["zbar"].to_numpy(dtype=float),
    )


@pytest.fixture(scope="module")
def fitted(cdnow):
    x, t_x, age, spend = cdnow
    repeat = x > 0
    ours = (bgnbd_fit(x, t_x, age), gamma_gamma_fit(x[repeat], spend[repeat]))
    theirs = (
        BetaGeoFitter().fit(x.astype(int), t_x, age),
        GammaGammaFitter().fit(x[repeat].astype(int), spend[repeat]),
    )
    return ours, theirs


def test_bgnbd_parameters_agree_with_lifetimes_and_the_paper(fitted):
    (bgnbd, _gg), (bgf, _ggf) = fitted
    assert bgnbd.converged
    for name in ("r", "alpha", "a", "b"):
        assert bgnbd.params[name] == pytest.approx(bgf.params_[name], rel=1e-4)
        assert bgnbd.standard_errors[name] == pytest.approx(bgf.standard_errors_[name], rel=1e-3)
    # Fader, Hardie & Lee (2005), table 1 / section 4: r = 0.243, alpha = 4.414, a = 0.793,
    # b = 2.426, LL = -9582.4.
    assert bgnbd.params["r"] == pytest.approx(0.243, abs=5e-4)
    assert bgnbd.params["alpha"] == pytest.approx(4.414, abs=5e-4)
    assert bgnbd.params["a"] == pytest.approx(0.793, abs=5e-4)
    assert bgnbd.params["b"] == pytest.approx(2.426, abs=5e-4)
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.05)


def test_gamma_gamma_parameters_agree_with_lifetimes(fitted):
    (_bgnbd, gg), (_bgf, ggf) = fitted
    assert gg.converged
    for name in ("p", "q", "v"):
        assert gg.params[name] == pytest.approx(ggf.params_[name], rel=1e-4)


def test_predictions_agree_with_lifetimes(cdnow, fitted):
    x, t_x, age, spend = cdnow
    (bgnbd, gg), (bgf, ggf) = fitted
    model = BgNbd(**bgnbd.params)
    np.testing.assert_allclose(
        model.p_alive(x, t_x, age),
        bgf.conditional_probability_alive(x.astype(int), t_x, age),
        rtol=1e-4,
    )
    for weeks in (1, 13, 39, 52):
        np.testing.assert_allclose(
            model.expected(weeks, x, t_x, age),
            bgf.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, age),
            rtol=1e-4,
        )
    repeat = x > 0
    spend_model = GammaGamma(**gg.params)
    np.testing.assert_allclose(
        spend_model.expected_value(x[repeat], spend[repeat], spend[repeat]),
        ggf.conditional_expected_average_profit(
            pd.Series(x[repeat].astype(int)), pd.Series(spend[repeat])
        ),
        rtol=1e-4,
    )


def test_clv_agrees_with_lifetimes(cdnow, fitted):
    """lifetimes sums 12 monthly steps of 4.345 weeks, discounted 1% a month; our steps and
    discount period are parameters, set to the same here."""
    x, t_x, age, spend = cdnow
    (bgnbd, gg), (bgf, ggf) = fitted
    repeat = x > 0
    series = [pd.Series(a[repeat]) for a in (x.astype(int), t_x, age, spend)]
    theirs = ggf.customer_lifetime_value(
        bgf, *series, time=12, discount_rate=0.01, freq="W"
    ).to_numpy()
    purchases = discounted_purchases(
        BgNbd(**bgnbd.params),
        x[repeat],
        t_x[repeat],
        age[repeat],
        horizon=12 * 4.345,
        step=4.345,
        discount_rate=0.01,
        discount_period=4.345,
    )
    ours = purchases * GammaGamma(**gg.params).expected_value(
        x[repeat], spend[repeat], spend[repeat]
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert theirs.sum() > 0
