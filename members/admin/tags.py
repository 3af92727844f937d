"""Tag groups with their tags. New groups and tags go through members.services.tags."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from members.models import Tag, TagGroup
from members.services.tags import MAX_TAGS, tag_create, tag_group_create


class TagForm(forms.ModelForm):
    """Checks the tag ceiling up front, so tag_create never fails after the form passed."""

    class Meta:
        model = Tag
        fields = ("group", "name", "sort")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and Tag.objects.count() >= MAX_TAGS:
            raise forms.ValidationError(_("At most %(n)d tags are allowed.") % {"n": MAX_TAGS})
        return cleaned


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
    list_display = ("name", "group", "sort", "created_at")
    list_filter = ("group",)
    list_select_related = ("group",)
    search_fields = ("name", "group__name")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        obj.pk = tag_create(group=obj.group, name=obj.name, sort=obj.sort).pk
        obj._state.adding = False
