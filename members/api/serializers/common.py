"""Serializer building blocks shared by the members API."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import empty

from members.models import Store, Tier

# Ids are 64-bit: a larger number is a 400 here rather than an overflow in the database driver.
MAX_ID = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    """A positive database id."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses any field it does not declare as writable, with a field error.

    Mass assignment guard (RELIABILITY.md): a PATCH carrying points_balance, status or
    home_store where not allowed gets a 400 naming the field instead of a silent success that
    leaves the client believing it changed something.
    """

    default_error_messages = {"not_writable": _("This field cannot be set here.")}

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                message = self.error_messages["not_writable"]
                raise serializers.ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)


class StoreCodeField(serializers.SlugRelatedField):
    """A store by its code (``"S001"``), as shop systems know it."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Store.objects.all())
        super().__init__(slug_field="code", **kwargs)


class TierCodeField(serializers.SlugRelatedField):
    """A tier by its code (``"gold"``)."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Tier.objects.all())
        super().__init__(slug_field="code", **kwargs)


class RequiredBooleanField(serializers.BooleanField):
    """A yes/no the client must give. DRF reads a boolean missing from a form-encoded body
    as false; for an answer like consent, silence must be an error, not a "no"."""

    default_empty_html = empty
