"""Group broadcasts: write a text, pick the groups (or select groups in the group list and
use "Broadcast to selected groups"), and follow each owner's delivery. Until the campaign
engine registers its group channel, deliveries wait and the page says so."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from groups.admin.common import guide_store_id
from groups.choices import GroupStatus
from groups.models import BroadcastDelivery, CommunityGroup, GroupBroadcast
from groups.services.broadcasts import (
    MAX_TEXT_BYTES,
    broadcast_plan,
    group_broadcast_create,
    group_broadcast_sender,
)


class BroadcastForm(forms.ModelForm):
    groups = forms.ModelMultipleChoiceField(
        label=_("groups"),
        queryset=CommunityGroup.objects.none(),
        widget=admin.widgets.FilteredSelectMultiple(_("groups"), is_stacked=False),
        help_text=_("Each owner is asked by WeCom to confirm the message for their groups."),
    )

    class Meta:
        model = GroupBroadcast
        fields = ("text",)

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if len(text.encode()) > MAX_TEXT_BYTES:
            raise ValidationError(_("At most %(n)d bytes (WeCom's limit).") % {"n": MAX_TEXT_BYTES})
        return text

    def clean(self):
        cleaned = super().clean()
        groups = cleaned.get("groups")
        if groups is not None:
            try:
                broadcast_plan(groups=groups)
            except ValidationError as exc:
                self.add_error("groups", exc.message_dict["groups"])
        return cleaned


class DeliveryInline(admin.TabularInline):
    model = BroadcastDelivery
    fields = ("owner", "chat_ids", "status", "attempts", "sent_at", "provider_id", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GroupBroadcast)
class GroupBroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    inlines = (DeliveryInline,)
    list_display = ("short_text", "group_count", "created_by", "created_at")
    ordering = ("-pk",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return (
            queryset
            if guide_store_id(request) is None
            else queryset.filter(created_by=request.user)
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["fields"] = ("text",)
            return super().get_form(request, obj, change, **kwargs)
        form = super().get_form(request, obj, change, **kwargs)
        live = CommunityGroup.objects.exclude(status=GroupStatus.DISSOLVED).order_by("name")
        store_id = guide_store_id(request)
        if store_id is not None:
            live = live.filter(store_id=store_id)
        form.base_fields["groups"].queryset = live
        return form

    def get_readonly_fields(self, request, obj=None):
        return ("text", "skipped", "created_by", "created_at") if obj is not None else ()

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        ids = [pk for pk in request.GET.get("groups", "").split(",") if pk.isdigit()]
        if ids:
            initial["groups"] = ids
        return initial

    def has_change_permission(self, request, obj=None):
        # Sent messages are records; the change page shows them read-only.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if group_broadcast_sender() is None:
            messages.warning(
                request,
                _(
                    "No sender is registered yet: broadcasts are kept and sent once the campaign "
                    "engine's WeCom group channel is connected."
                ),
            )
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        broadcast = group_broadcast_create(
            text=form.cleaned_data["text"], groups=form.cleaned_data["groups"], actor=request.user
        )
        obj.pk = broadcast.pk
        obj.refresh_from_db()

    def get_inline_instances(self, request, obj=None):
        # The deliveries are made by the service; they are shown once the broadcast exists.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_related(self, request, form, formsets, change):
        return None

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text[:40]

    @admin.display(description=_("groups"))
    def group_count(self, obj):
        return len(obj.group_ids)
