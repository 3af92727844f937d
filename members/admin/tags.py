"""Tag groups with their tags. New groups and tags go through members.services.tags; a tag's
rule (a rule tag) is set with the rule builder through members.services.segments."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from members.admin import segments
from members.admin.base import guide_restricted
from members.admin.rule_builder import RuleBuilderWidget
from members.models import Tag, TagGroup
from members.services.segments import tag_rule_set
from members.services.tags import MAX_TAGS, tag_create, tag_group_create

RULE_STATS = ("rule_refreshed_at", "rule_added", "rule_removed", "rule_failed_at", "rule_error")


class TagForm(forms.ModelForm):
    """Checks the tag ceiling up front, so tag_create never fails after the form passed."""

    class Meta:
        model = Tag
        fields = ("group", "name", "sort", "rule")
        widgets = {"rule": RuleBuilderWidget(optional=True)}

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and Tag.objects.count() >= MAX_TAGS:
            raise forms.ValidationError(_("At most %(n)d tags are allowed.") % {"n": MAX_TAGS})
        return cleaned

    def clean_rule(self):
        rule = self.cleaned_data.get("rule")
        segments.tree_form_check(rule)
        return rule


class TagInline(admin.TabularInline):
    model = Tag
    form = TagForm
    fields = ("name", "sort")
    extra = 1


@admin.register(TagGroup)
class TagGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "multi_select", "tag_count", "sort", "description")
    search_fields = ("name",)
    inlines = (TagInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_tag_count=Count("tags"))

    @admin.display(description=_("tags"), ordering="_tag_count")
    def tag_count(self, obj):
        return obj._tag_count

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = tag_group_create(
            name=obj.name,
            multi_select=obj.multi_select,
            description=obj.description,
            sort=obj.sort,
        )
        obj.pk = created.pk
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        # New tags through tag_create (it enforces the tag ceiling); edits and deletions as usual.
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            deleted.delete()
        for tag in instances:
            if tag.pk is None:
                tag.pk = tag_create(group=form.instance, name=tag.name, sort=tag.sort).pk
                tag._state.adding = False
            else:
                tag.save()


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    form = TagForm
    list_display = (
        "name",
        "group",
        "sort",
        "has_rule",
        "rule_refreshed_at",
        "rule_failing",
        "created_at",
    )
    list_filter = ("group",)
    list_select_related = ("group",)
    search_fields = ("name", "group__name")
    readonly_fields = RULE_STATS
    actions = (segments.apply_tag_rules,)
    has_apply_rules_permission = segments.has_apply_rules_permission

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": ("group", "name", "sort")})]
        if not guide_restricted(request):
            description = _(
                "Members matching the rule get this tag, and lose it when they stop matching "
                "(tags put on by hand stay). Leave it empty for a plain tag."
            )
            fieldsets.append(
                (_("Rule"), {"fields": ("rule", *RULE_STATS), "description": description})
            )
        return fieldsets

    @admin.display(description=_("rule tag"), boolean=True)
    def has_rule(self, obj):
        return obj.rule is not None

    @admin.display(description=_("rule failing"), boolean=True, ordering="rule_failed_at")
    def rule_failing(self, obj):
        # None (no icon) for plain tags: only a rule can fail.
        return bool(obj.rule_error) if obj.rule is not None else None

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["group", "name", "sort"])
        else:
            obj.pk = tag_create(group=obj.group, name=obj.name, sort=obj.sort).pk
            obj._state.adding = False
        if "rule" in form.changed_data:
            # Through the service: clearing a rule takes back the tags the rule put on.
            tag_rule_set(tag=obj, tree=form.cleaned_data["rule"])
            if obj.rule is not None:
                self.message_user(
                    request,
                    _("Members get the tag at the next scheduled run, or now: “Apply rules now”."),
                    messages.INFO,
                )
