"""The member form of the admin. It checks what the services check, so that save_model's
call to member_upsert / member_update does not fail after the form said yes."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.choices import source_channels
from members.identity import phone_normalise
from members.models import Member
from members.services.members import IDENTITY_FIELDS, PROFILE_FIELDS


class MemberForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = (*PROFILE_FIELDS, *IDENTITY_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "source" in self.fields:
            # Codes are validated against the channel list (built-in plus settings), not DB choices.
            self.fields["source"] = forms.ChoiceField(
                label=Member._meta.get_field("source").verbose_name,
                choices=source_channels(),
                initial="other",
            )

    def clean_phone(self):
        raw = self.cleaned_data.get("phone")
        # Normalised before the unique check, so "138 1234 5678" meets +8613812345678.
        return phone_normalise(raw) if raw else None

    def clean_birthday(self):
        birthday = self.cleaned_data.get("birthday")
        if birthday and birthday > timezone.localdate():
            raise ValidationError(_("Birthday is in the future."))
        return birthday

    def clean(self):
        cleaned = super().clean()
        editable = [f for f in IDENTITY_FIELDS if f in self.fields]
        if editable:
            kept = [
                cleaned.get(f) if f in self.fields else getattr(self.instance, f)
                for f in IDENTITY_FIELDS
            ]
            if not any(kept):
                raise ValidationError(_("A member needs a phone, union id, open id or WeCom id."))
        guide = cleaned.get("guide")
        if "guide" in self.fields and guide is not None:
            store = cleaned.get("home_store")
            if store is None:
                cleaned["home_store"] = guide.store
            elif store.pk != guide.store_id:
                self.add_error(
                    "guide", _("This guide works at %(store)s.") % {"store": guide.store}
                )
        return cleaned
