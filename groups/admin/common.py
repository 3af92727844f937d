"""Pieces shared by the groups admin pages: the guide's store scope and service-checked forms."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from members.admin.base import guide_restricted
from members.models import Guide, Store


def guide_store_id(request) -> int | None:
    """The store a guide (who is not an operator) is limited to; None for operators."""
    return request.user.guide.store_id if guide_restricted(request) else None


def limit_to_store(request, db_field, kwargs: dict) -> dict:
    """Foreign-key choices a guide may pick: their store, its guides, its join codes."""
    store_id = guide_store_id(request)
    if store_id is None:
        return kwargs
    model = db_field.remote_field.model
    if model is Store:
        kwargs["queryset"] = Store.objects.filter(pk=store_id)
        kwargs.update(required=True, initial=store_id, empty_label=None)
    elif model is Guide:
        kwargs["queryset"] = Guide.objects.filter(store_id=store_id)
    elif model._meta.label == "groups.JoinCode":
        kwargs["queryset"] = model.objects.filter(store_id=store_id)
    return kwargs


class ServiceCheckedForm(forms.ModelForm):
    """A model form that runs the service's own checks in clean(), so save_model's call to the
    service never fails after the form said yes. Subclasses name ``check``."""

    @staticmethod
    def check(values: dict, *, instance):  # pragma: no cover - overridden
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        names = [f for f in self._meta.fields if f in self.fields]
        values = {f: cleaned.get(f) for f in names}
        instance = self.instance if self.instance.pk else None
        if instance is not None:
            values = {f: v for f, v in values.items() if f in self.changed_data}
        try:
            self.check(dict(values), instance=instance)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned

    def service_values(self) -> dict:
        """What to hand to the service: every field on create, the changed ones on change."""
        names = [f for f in self._meta.fields if f in self.cleaned_data]
        if self.instance.pk:
            names = [f for f in names if f in self.changed_data]
        return {f: self.cleaned_data[f] for f in names}


def member_link(member_id, label=None):
    url = reverse("admin:members_member_change", args=[member_id])
    return format_html('<a href="{}">{}</a>', url, label or f"#{member_id}")
