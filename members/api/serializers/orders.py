"""Orders as shop backends push them and staff read them."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.api.serializers.common import StoreCodeField, StrictSerializer, id_field
from members.choices import OrderStatus
from members.identity import phone_normalise
from members.models import Member, Order
from members.selectors import members_visible_to


class OrderSerializer(serializers.ModelSerializer):
    store = StoreCodeField(read_only=True, allow_null=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "source",
            "external_id",
            "member",
            "store",
            "paid_amount",
            "gross_margin",
            "item_count",
            "paid_at",
            "status",
            "refunded_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderUpsertSerializer(StrictSerializer):
    """An order push. The member is named by id, phone or union id; when several are given
    they must name the same member. Sending it with status "refunded" refunds it."""

    source = serializers.CharField(max_length=32, default="pos")
    external_id = serializers.CharField(max_length=64)
    member = id_field(required=False, help_text=_("Member id."))
    member_phone = serializers.CharField(max_length=32, required=False)
    member_unionid = serializers.CharField(max_length=64, required=False)
    store = StoreCodeField(allow_null=True, required=False)
    paid_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    gross_margin = serializers.DecimalField(max_digits=12, decimal_places=2, default=0)
    item_count = serializers.IntegerField(min_value=0, max_value=1_000_000, default=1)
    paid_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=OrderStatus.choices, default=OrderStatus.PAID)

    def validate_member_phone(self, value: str) -> str:
        try:
            return phone_normalise(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def validate(self, attrs):
        attrs["member"] = self._resolve_member(attrs)
        attrs.pop("member_phone", None)
        attrs.pop("member_unionid", None)
        return attrs

    def _resolve_member(self, attrs) -> Member:
        lookups = {
            "member": ("pk", attrs.get("member")),
            "member_phone": ("phone", attrs.get("member_phone")),
            "member_unionid": ("unionid", attrs.get("member_unionid")),
        }
        given = {name: pair for name, pair in lookups.items() if pair[1] is not None}
        if not given:
            raise serializers.ValidationError(
                {"member": [_("Name the member by id, member_phone or member_unionid.")]}
            )
        visible = members_visible_to(self.context["request"].user)
        found: dict[str, Member] = {}
        for name, (column, value) in given.items():
            member = visible.filter(**{column: value}).first()
            if member is None:
                raise serializers.ValidationError({name: [_("No member matches this value.")]})
            found[name] = member
        if len({member.pk for member in found.values()}) > 1:
            raise serializers.ValidationError(
                {"member": [_("The member id, phone and union id name different members.")]}
            )
        return next(iter(found.values()))
