"""The member admin: a list that stays fast at a million members, store-scoped for guides,
with masked phones, bulk actions, and a member page with the member's whole story."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch, prefetch_related_objects
from django.urls import path
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from members.admin import benefit_actions, member_actions, member_page, privacy_actions
from members.admin.base import BigTableAdmin, guide_restricted
from members.admin.member_filters import (
    ConsentFilter,
    GuideFilter,
    LastPurchaseFilter,
    SourceFilter,
    TagFilter,
)
from members.admin.member_form import MemberForm
from members.choices import source_channels
from members.identity import email_mask, id_mask, phone_mask
from members.models import Member, MemberTag
from members.selectors import (
    member_should_mask,
    member_unmasked_by_permission,
    members_search,
    members_visible_to,
)
from members.services.audit import unmasked_view_record
from members.services.members import IDENTITY_FIELDS, PROFILE_FIELDS, member_update, member_upsert

PROFILE = ("name", "gender", "birthday", "province", "city")
OWNERSHIP = ("source", "home_store", "guide", "tier")
# What guides see of the ownership fields (read-only, the source channel by its label).
OWNERSHIP_SHOWN = ("source_label", "home_store", "guide", "tier")
STATS = (
    "status",
    "points_balance",
    "order_count",
    "total_paid",
    "total_margin",
    "first_purchase_at",
    "last_purchase_at",
    "created_at",
    "updated_at",
)
# Identities and the email address: shown masked to whoever must not see them.
CONTACT_FIELDS = (*IDENTITY_FIELDS, "email")
MASKED = {f: f"{f}_masked" for f in CONTACT_FIELDS}


def _field_label(name: str):
    return Member._meta.get_field(name).verbose_name


class MemberChangeList(ChangeList):
    """Fetches the tags of the page's members in one extra query, and audits a page of full
    phones served to a guide with the unmask permission (one row for the page)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        tags = MemberTag.objects.select_related("tag").order_by("tag__group_id", "tag__sort")
        prefetch_related_objects(
            self.result_list, Prefetch("member_tags", queryset=tags, to_attr="admin_tags")
        )
        if member_unmasked_by_permission(request.user):
            unmasked_view_record(
                actor=request.user,
                member_ids=[member.pk for member in self.result_list],
                where="admin.list",
            )


@admin.register(Member)
class MemberAdmin(BigTableAdmin):
    form = MemberForm
    list_select_related = ("home_store", "guide", "tier")
    list_display_links = ("id", "display_name")
    ordering = ("-id",)
    search_fields = ("name", "=phone", "=unionid", "=openid", "=wecom_external_userid")
    search_help_text = _(
        "Name (three characters or more: anywhere in the name; two: its start or end; one: "
        "the surname), phone in any format or its last four digits, WeChat union id or open "
        "id, WeCom external id, or #id."
    )
    autocomplete_fields = ("home_store", "guide")
    actions = (
        member_actions.tag_members,
        member_actions.untag_members,
        member_actions.assign_guide,
        member_actions.export_csv,
        member_actions.merge_members,
        privacy_actions.erase_members,
        benefit_actions.adjust_points,
        benefit_actions.issue_coupon,
    )
    change_form_template = "admin/members/member/change_form.html"
    change_list_template = "admin/members/change_list_import.html"

    # --- who may do what -----------------------------------------------------------------

    def get_queryset(self, request):
        queryset = members_visible_to(request.user)
        return queryset.order_by(*(self.get_ordering(request) or ()))

    def has_add_permission(self, request):
        return not guide_restricted(request) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        # Removing a member is an erasure: audited, through a service, never a raw delete.
        return False

    def has_tag_permission(self, request):
        return request.user.has_perm("members.add_membertag")

    def has_untag_permission(self, request):
        return request.user.has_perm("members.delete_membertag")

    def has_assign_guide_permission(self, request):
        return not guide_restricted(request) and request.user.has_perm("members.change_member")

    def has_export_permission(self, request):
        return not guide_restricted(request) and request.user.has_perm("members.export_members")

    def has_merge_permission(self, request):
        return not guide_restricted(request) and request.user.has_perm("members.merge_members")

    has_erase_permission = privacy_actions.has_erase_permission
    has_adjust_points_permission = benefit_actions.has_adjust_points_permission
    has_issue_coupon_permission = benefit_actions.has_issue_coupon_permission

    def has_import_permission(self, request):
        user = request.user
        return not guide_restricted(request) and user.has_perms(
            ["members.add_member", "members.change_member"]
        )

    # --- the list ----------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        extra = {"has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_changelist(self, request, **kwargs):
        return MemberChangeList

    def get_list_display(self, request):
        phone = MASKED["phone"] if member_should_mask(request.user) else "phone"
        return (
            "id",
            "display_name",
            phone,
            "tier",
            "home_store",
            "guide",
            "source_label",
            "tag_list",
            "order_count",
            "total_paid",
            "last_purchase_at",
            "created_at",
        )

    def get_list_filter(self, request):
        filters = [TagFilter, "tier", GuideFilter, SourceFilter, ConsentFilter, LastPurchaseFilter]
        if not guide_restricted(request):
            filters.insert(2, "home_store")
        return filters

    def get_search_results(self, request, queryset, search_term):
        """The shared search (members.selectors.members_search): index scans only."""
        return members_search(queryset, search_term), False

    @admin.display(description=_field_label("name"), ordering="name")
    def display_name(self, obj):
        return obj.name or "-"

    @admin.display(description=_field_label("source"), ordering="source")
    def source_label(self, obj):
        return dict(source_channels()).get(obj.source, obj.source)

    @admin.display(description=_("tags"))
    def tag_list(self, obj):
        tags = getattr(obj, "admin_tags", None)
        if tags is None:
            tags = obj.member_tags.select_related("tag")
        return format_html_join(
            " ", '<span class="member-tag">{}</span>', ((t.tag.name,) for t in tags)
        )

    # Masked identities, shown instead of the real ones to whoever must not see them.
    @admin.display(description=_field_label("phone"), ordering="phone")
    def phone_masked(self, obj):
        return phone_mask(obj.phone) or "-"

    @admin.display(description=_field_label("unionid"))
    def unionid_masked(self, obj):
        return id_mask(obj.unionid) or "-"

    @admin.display(description=_field_label("openid"))
    def openid_masked(self, obj):
        return id_mask(obj.openid) or "-"

    @admin.display(description=_field_label("wecom_external_userid"))
    def wecom_external_userid_masked(self, obj):
        return id_mask(obj.wecom_external_userid) or "-"

    @admin.display(description=_field_label("email"))
    def email_masked(self, obj):
        return email_mask(obj.email) or "-"

    # --- the member page ---------------------------------------------------------------

    def _identity_fields(self, request) -> tuple[str, ...]:
        if member_should_mask(request.user):
            return tuple(MASKED[f] for f in CONTACT_FIELDS)
        return CONTACT_FIELDS

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": PROFILE}),
            (_("Identities"), {"fields": self._identity_fields(request)}),
            (
                _("Store, guide and tier"),
                {"fields": OWNERSHIP_SHOWN if guide_restricted(request) else OWNERSHIP},
            ),
        ]
        if obj is not None:
            fieldsets.append((_("Purchases and points"), {"fields": STATS}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = list(STATS)
        if guide_restricted(request):
            # Guides keep a customer's profile up to date; identities and ownership are the
            # operators' (a guide moving a member to another store would lose sight of them).
            readonly += [*self._identity_fields(request), *OWNERSHIP_SHOWN]
        elif member_should_mask(request.user):
            readonly += self._identity_fields(request)
        return readonly

    def save_model(self, request, obj, form, change):
        """Writes go through the member services (identity rules, events), never obj.save()."""
        allowed = set(IDENTITY_FIELDS) | set(PROFILE_FIELDS)
        if change:
            values = {f: form.cleaned_data[f] for f in form.changed_data if f in allowed}
            if "guide" in values and "home_store" in form.cleaned_data:
                values["home_store"] = form.cleaned_data["home_store"]
            member = member_update(member=obj, actor=request.user, **values) if values else obj
        else:
            values = {f: v for f, v in form.cleaned_data.items() if f in allowed}
            member, _created = member_upsert(actor=request.user, **values)
        for field in Member._meta.concrete_fields:
            setattr(obj, field.attname, getattr(member, field.attname))
        obj._state.adding = False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context.update(member_page.member_page_context(self, request, obj))
            if member_unmasked_by_permission(request.user):
                unmasked_view_record(actor=request.user, member_ids=[obj.pk], where="admin.page")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path(
                "import/",
                view(member_page.CsvImportView.as_view(model_admin=self)),
                name=f"{info}_import",
            ),
            path(
                "<path:object_id>/tags/",
                view(member_page.member_tag_view(self)),
                name=f"{info}_tag",
            ),
            *super().get_urls(),
        ]
