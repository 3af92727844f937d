"""The fit_value_models command and the admin pages of the value models."""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from members.models import MemberValue, ValueModelFit
from members.services.value import member_value_score, value_models_fit
from tests import factories
from tests.members import value_data

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()


def _buy(member, days_ago: int, amount="120.00"):
    paid_at = timezone.now() - timedelta(days=days_ago)
    return factories.OrderFactory(member=member, paid_amount=Decimal(amount), paid_at=paid_at)


def _simulate_history(n: int) -> None:
    value_data.order_history_create(
        n=n,
        today=timezone.localdate(),
        seed=3,
        bgnbd={"r": 0.8, "alpha": 60.0, "a": 0.7, "b": 3.0},
        gamma_gamma={"p": 5.0, "q": 4.0, "v": 450.0},
    )


def _run(*args) -> str:
    out = StringIO()
    call_command("fit_value_models", *args, stdout=out)
    return out.getvalue()


def test_command_prints_parameters_and_diagnostics():
    _simulate_history(1500)
    output = _run()
    fit = ValueModelFit.objects.get()
    assert fit.purchase_model == "bgnbd"
    for name in ("r", "alpha", "a", "b", "p", "q", "v"):
        assert f"  {name} = " in output
    assert "(se " in output
    assert "purchase model: BG/NBD" in output
    assert "spend model: Gamma-Gamma" in output
    assert "log-likelihood: " in output and "converged: yes" in output
    assert "holdout" not in output  # calibration end now: nothing to check against
    assert not MemberValue.objects.exists()


def test_command_with_a_calibration_end_prints_the_holdout_check():
    _simulate_history(1500)
    end = timezone.localdate() - timedelta(days=90)
    output = _run("--calibration-end", end.isoformat())
    fit = ValueModelFit.objects.get()
    assert timezone.localtime(fit.calibration_end) == datetime(
        end.year, end.month, end.day, tzinfo=TZ
    )
    assert f"calibration end {end.isoformat()} 00:00" in output
    assert "holdout: 90 days after the end" in output
    assert "purchases made" in output


def test_command_can_score():
    for days_ago in (40, 20, 3):
        _buy(factories.MemberFactory(), days_ago)
    output = _run("--score")
    assert "fallback: 0 repeat buyers, fewer than the 100 needed to fit BG/NBD" in output
    assert "scored: 3 members, 3 predicted, 0 removed" in output
    assert MemberValue.objects.count() == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--calibration-end", "2026-13-01"], "not a date like"),
        ([], "nothing to fit"),
        (["--calibration-end", "2999-01-01"], "in the future"),
    ],
)
def test_command_errors_are_clear(args, message):
    factories.MemberFactory()
    with pytest.raises(CommandError, match=message):
        _run(*args)


def test_fit_admin_lists_and_shows_fits_read_only(operator_admin):
    _simulate_history(600)
    fit = value_models_fit()
    changelist = operator_admin.get(reverse("admin:members_valuemodelfit_changelist"))
    assert changelist.status_code == 200
    body = changelist.content.decode()
    assert "r=" in body and "alpha=" in body and "p=" in body

    page = operator_admin.get(
        reverse("admin:members_valuemodelfit_change", args=[fit.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert page.status_code == 200
    body = page.content.decode()
    assert "log-likelihood:" in body and "converged:" in body
    assert "&quot;bgnbd&quot;" in body or '"bgnbd"' in body
    assert 'name="_save"' not in body  # read-only
    add = operator_admin.get(reverse("admin:members_valuemodelfit_add"))
    assert add.status_code == 403


def test_guides_do_not_see_fits(guide_admin):
    response = guide_admin.get(reverse("admin:members_valuemodelfit_changelist"))
    assert response.status_code == 403


def test_member_page_shows_the_prediction(operator_admin):
    member = factories.MemberFactory()
    other = factories.MemberFactory()
    for days_ago in (60, 30, 5):
        _buy(member, days_ago)
    fit = value_models_fit()
    member_value_score(fit=fit)
    value = MemberValue.objects.get(member=member)

    page = operator_admin.get(reverse("admin:members_member_change", args=[member.pk]))
    body = page.content.decode()
    assert 'id="member-value"' in body
    assert f"{round(value.p_alive * 100)}%" in body
    assert value.next_purchase_on.strftime("%Y-%m-%d") in body
    assert str(value.clv) in body

    empty = operator_admin.get(
        reverse("admin:members_member_change", args=[other.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "No prediction yet" in empty.content.decode()
