"""Parsing CSV cells into typed values. Each parser raises ValueError with a translated reason."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import ConsentChannel, Gender, OrderStatus

GENDERS = {
    "male": Gender.MALE,
    "m": Gender.MALE,
    "男": Gender.MALE,
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
    "女": Gender.FEMALE,
    "unknown": Gender.UNKNOWN,
    "未知": Gender.UNKNOWN,
}
CONSENTS = {
    "granted": True,
    "1": True,
    "yes": True,
    "y": True,
    "true": True,
    "是": True,
    "同意": True,
    "withdrawn": False,
    "0": False,
    "no": False,
    "n": False,
    "false": False,
    "否": False,
    "拒绝": False,
    "撤回": False,
}
ORDER_STATUSES = {
    "paid": OrderStatus.PAID,
    "已支付": OrderStatus.PAID,
    "refunded": OrderStatus.REFUNDED,
    "已退款": OrderStatus.REFUNDED,
}
# Consent columns are consent_<channel>, one per purpose the member consents to.
CONSENT_COLUMNS = {f"consent_{channel}": channel for channel in ConsentChannel.values}

# Spreadsheets in China often show dates as 2024/5/1; ISO 8601 is tried first.
_DATE_FORMATS = ("%Y/%m/%d", "%Y%m%d")
_DATETIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")
_TAG_SEPARATORS = (";", "；", "|")


def parse_gender(text: str) -> str:
    value = GENDERS.get(text.strip().lower())
    if value is None:
        raise ValueError(_("Unknown gender; use male, female or unknown (男/女)."))
    return value


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(_("Not a date; use YYYY-MM-DD."))


def parse_datetime(text: str) -> datetime:
    """ISO 8601, or a local time without offset read in the project's time zone
    (Asia/Shanghai by default)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
        for fmt in _DATETIME_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(_("Not a date and time; use YYYY-MM-DD HH:MM:SS or ISO 8601."))
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


def parse_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("¥", "").replace("￥", ""))
    except InvalidOperation:
        raise ValueError(_("Not a number.")) from None
    if not value.is_finite():
        raise ValueError(_("Not a number."))
    return value


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    # Excel turns 3 into 3.0 when a column is formatted as a number.
    value = parse_decimal(text)
    if value != value.to_integral_value():
        raise ValueError(_("Not a whole number."))
    return int(value)


def parse_consent(text: str) -> bool:
    value = CONSENTS.get(text.strip().lower())
    if value is None:
        raise ValueError(_("Use granted or withdrawn (or 1 / 0)."))
    return value


def parse_order_status(text: str) -> str:
    value = ORDER_STATUSES.get(text.strip().lower())
    if value is None:
        raise ValueError(_("Unknown order status; use paid or refunded."))
    return value


def parse_tags(text: str) -> list[tuple[str, str]]:
    """ "肤质:油性;偏好品类:护肤" -> [("肤质", "油性"), ("偏好品类", "护肤")]."""
    for separator in _TAG_SEPARATORS[1:]:
        text = text.replace(separator, _TAG_SEPARATORS[0])
    refs = []
    for part in text.split(_TAG_SEPARATORS[0]):
        part = part.strip().replace("：", ":")
        if not part:
            continue
        group, colon, name = part.partition(":")
        if not colon or not group.strip() or not name.strip():
            raise ValueError(
                _("Tag “%(tag)s” must be written as group:tag (e.g. 肤质:油性).") % {"tag": part}
            )
        refs.append((group.strip(), name.strip()))
    return refs
