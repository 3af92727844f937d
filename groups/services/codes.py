"""Join codes (群活码): making them, reading a scanned code back, and the link its QR carries."""

from __future__ import annotations

import re
import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.choices import GroupPurpose
from groups.conf import MAX_CAPACITY, code_length, default_capacity, join_link_template
from groups.models import JoinCode
from members.models import Guide, Store

# No look-alikes (0/O, 1/I/L): a code read off a poster can be typed back.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_SEPARATORS = re.compile(r"[\s\-_.]")
TEMPLATE_FIELDS = (
    "auto_open",
    "max_groups",
    "group_name",
    "group_purpose",
    "group_owner",
    "group_capacity",
    "group_expires_at",
)
EDITABLE_FIELDS = ("name", "store", "is_active", *TEMPLATE_FIELDS)


def code_normalise(raw) -> str:
    """A typed or scanned code as stored: upper case, spaces and dashes dropped."""
    return _SEPARATORS.sub("", str(raw or "")).upper()


def code_is_well_formed(code: str) -> bool:
    return 5 <= len(code) <= 12 and all(ch in CODE_ALPHABET for ch in code)


def join_code_resolve(raw) -> JoinCode | None:
    """The active join code ``raw`` names (any case, spaces ignored), or None."""
    code = code_normalise(raw)
    if not code_is_well_formed(code):
        return None
    return JoinCode.objects.filter(code=code, is_active=True).first()


def join_link(code: JoinCode | str) -> str:
    """The link a join code's QR carries: SCRM_GROUP_JOIN_LINK_TEMPLATE with ``{code}``, e.g. a
    mini-program "普通链接二维码" rule that opens the join page with the code."""
    return join_link_template().format(code=code.code if isinstance(code, JoinCode) else code)


def join_code_values_clean(values: dict, *, instance: JoinCode | None = None) -> dict:
    """Check a code's values (without writing); raises ValidationError by field."""
    errors: dict[str, list[str]] = {}
    if "name" in values:
        values["name"] = str(values["name"] or "").strip()
        if not values["name"]:
            errors["name"] = [_("A name is required.")]
    if "group_name" in values:
        values["group_name"] = str(values["group_name"] or "").strip()
        try:
            values["group_name"].format(n=1)
        except (KeyError, IndexError, ValueError):
            errors["group_name"] = [_("Only {n} may appear in braces.")]
    capacity = values.get("group_capacity")
    if capacity is not None and not 1 <= int(capacity) <= MAX_CAPACITY:
        errors["group_capacity"] = [
            _("From 1 to %(max)d seats.") % {"max": MAX_CAPACITY},
        ]

    def current(field):
        if field in values:
            return values[field]
        return getattr(instance, field) if instance is not None else None

    store: Store | None = current("store")
    owner: Guide | None = current("group_owner")
    if owner is not None and store is not None and owner.store_id != store.pk:
        errors["group_owner"] = [_("The owner must be a shop guide of the code's store.")]
    purpose = current("group_purpose") or GroupPurpose.SERVICE
    expires_at = current("group_expires_at")
    if purpose == GroupPurpose.FLASH_SALE and expires_at is None:
        errors["group_expires_at"] = [_("A flash-sale group needs an end.")]
    elif "group_expires_at" in values and expires_at is not None and expires_at <= timezone.now():
        errors["group_expires_at"] = [_("The end must be in the future.")]
    if errors:
        raise ValidationError(errors)
    return values


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(code_length()))


@transaction.atomic
def join_code_create(
    *, name: str, store: Store | None = None, is_active: bool = True, **template
) -> JoinCode:
    """A new join code for a pool; ``template`` holds the fields of the groups it opens
    (``group_name``, ``group_purpose``, ``group_owner``, ``group_capacity``,
    ``group_expires_at``, ``auto_open``, ``max_groups``)."""
    unknown = sorted(set(template) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValidationError({field: [_("Unknown field.")] for field in unknown})
    template.setdefault("group_capacity", default_capacity())
    values = join_code_values_clean(
        {"name": name, "store": store, "is_active": is_active, **template}
    )
    # A clash with an existing code is rare; a savepoint per try keeps the transaction usable.
    for attempt in range(5):
        try:
            with transaction.atomic():
                return JoinCode.objects.create(code=_new_code(), **values)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def join_code_update(*, code: JoinCode, **values) -> JoinCode:
    """Change a code's name, store, activity or template. Groups already opened keep theirs."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed.")] for field in unknown})
    code = JoinCode.objects.select_for_update(no_key=True).get(pk=code.pk)
    values = join_code_values_clean(dict(values), instance=code)
    for field, value in values.items():
        setattr(code, field, value)
    code.save(update_fields=list(values) or None)
    return code
