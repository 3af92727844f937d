"""Admin of the system records: server API keys and Celery worker heartbeats."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from scrm.api.keys import SCOPES, api_key_create
from scrm.models import ApiKey, WorkerHeartbeat


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=list(SCOPES.items()),
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "is_active")


@admin.action(description=_("Revoke selected keys"), permissions=["change"])
def revoke_keys(modeladmin, request, queryset):
    keys = list(queryset.filter(is_active=True))
    ApiKey.objects.filter(pk__in=[key.pk for key in keys]).update(is_active=False)
    for key in keys:
        modeladmin.log_change(request, key, [{"changed": {"fields": ["is_active"]}}])
    modeladmin.message_user(
        request,
        ngettext("Revoked %(n)d key.", "Revoked %(n)d keys.", len(keys)) % {"n": len(keys)},
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by scrm.api.keys.api_key_create: the secret is shown once, on creation,
    and only its hash is stored. A key is revoked, not deleted, so its history stays."""

    form = ApiKeyForm
    list_display = ("name", "prefix", "scope_list", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "=prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = (revoke_keys,)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "scopes")
        return ("name", "prefix", "scopes", "is_active", "created_at", "last_used_at")

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = api_key_create(name=obj.name, scopes=form.cleaned_data["scopes"])
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        obj._state.adding = False
        messages.warning(
            request,
            format_html(
                "{} <code>{}</code>",
                _("Copy this API key now; it is not stored and will not be shown again:"),
                secret,
            ),
        )


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "beat_at")
    ordering = ("hostname",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
