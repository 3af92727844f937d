"""The referral index members' value score multiplies by (docs/value.md, docs/referrals.md).

A member who brings buyers is worth more than their own purchases: each invitee who bought adds
0.2 to an index of 1.0, up to 2.0 (five such invitees). Capped so one prolific referrer does not
drown every other signal in the value score.
"""

from __future__ import annotations

from django.db.models import F, FloatField, Value
from django.db.models.functions import Cast, Least

from referrals.models import ReferralNode

STEP = 0.2
CAP = 2.0


def referral_index_rows():
    """Rows (member_id, referral_index) for members who brought at least one buyer; everyone
    else keeps the default 1.0."""
    return ReferralNode.objects.filter(qualified_count__gt=0).values(
        "member_id",
        referral_index=Least(
            Value(1.0) + Cast(F("qualified_count"), FloatField()) * Value(STEP),
            Value(CAP),
            output_field=FloatField(),
        ),
    )
