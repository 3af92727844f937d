"""Stores, shop guides (created together with their staff login) and tiers."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model, password_validation
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from members.admin.base import guide_restricted
from members.management.commands.setup_roles import SHOP_GUIDES, role_group
from members.models import Guide, Store, Tier


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "province", "city", "is_active")
    list_filter = ("is_active", "province")
    search_fields = ("code", "name", "city")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if guide_restricted(request):
            return queryset.filter(pk=request.user.guide.store_id)
        return queryset


class GuideCreationForm(forms.ModelForm):
    """A new shop guide and the staff login they sign in with."""

    username = forms.CharField(label=_("login name"), max_length=150)
    password1 = forms.CharField(
        label=_("password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Guide
        fields = ("store", "name", "wecom_userid", "is_active")

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This login name is taken."))
        return username

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            user = get_user_model()(username=cleaned.get("username", ""))
            try:
                password_validation.validate_password(first, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned

    @transaction.atomic
    def create_user(self):
        """Create the guide's staff login, in the "Shop guides" group."""
        user = get_user_model().objects.create_user(
            username=self.cleaned_data["username"],
            password=self.cleaned_data["password1"],
            is_staff=True,
        )
        user.groups.add(role_group(SHOP_GUIDES))
        return user


@admin.register(Guide)
class GuideAdmin(admin.ModelAdmin):
    list_display = ("name", "store", "user", "wecom_userid", "is_active")
    list_filter = ("is_active", "store")
    list_select_related = ("store", "user")
    search_fields = ("name", "user__username", "wecom_userid", "store__code")
    autocomplete_fields = ("store",)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = GuideCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("username", "password1", "password2", "store", "name", "wecom_userid")
        return ("user", "store", "name", "wecom_userid", "is_active")

    def get_readonly_fields(self, request, obj=None):
        return ("user",) if obj is not None else ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if guide_restricted(request):
            return queryset.filter(store_id=request.user.guide.store_id)
        return queryset

    def save_model(self, request, obj, form, change):
        if not change:
            # The login and the guide are created together (changeform_view is atomic).
            obj.user = form.create_user()
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and obj.user.is_active != obj.is_active:
            # A guide who leaves must lose their admin login with their store's members.
            obj.user.is_active = obj.is_active
            obj.user.save(update_fields=["is_active"])


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "rank")
    search_fields = ("name", "code")
