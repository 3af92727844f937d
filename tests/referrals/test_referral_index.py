"""The referral index the value score uses: 1.0 plus 0.2 per invitee who bought, at most 2.0."""

import pytest
from django.db import connection

from members.value.referral import referral_index_register, referral_index_sql
from referrals.models import ReferralNode
from referrals.value import referral_index_rows
from tests import factories

pytestmark = pytest.mark.django_db


def test_members_who_brought_buyers_weigh_more_up_to_a_cap():
    one, many, none = factories.MemberFactory.create_batch(3)
    for m, qualified in ((one, 2), (many, 9), (none, 0)):
        ReferralNode.objects.create(member=m, path=f"/{m.pk}/", depth=0, qualified_count=qualified)
    referral_index_register(referral_index_rows)  # as the referrals app's ready() does
    sql, params = referral_index_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        index = dict(cursor.fetchall())
    assert index[one.pk] == pytest.approx(1.4)
    assert index[many.pk] == pytest.approx(2.0)
    assert none.pk not in index  # keeps the default 1.0
