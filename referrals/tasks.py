"""Celery tasks of the referrals app: thin wrappers around services."""

from celery import shared_task


@shared_task(name="referrals.referrals_expire_due")
def referrals_expire_due() -> int:
    """Periodic: pending referrals whose first-order window closed become expired."""
    from referrals.services.attach import referrals_expire_due as expire

    return expire()
