"""factory_boy factories for the members app (and later apps)."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from members import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pass-1234")


class OperatorFactory(UserFactory):
    """A staff user who is not a guide: sees all members."""

    username = factory.Sequence(lambda n: f"operator{n}")
    is_staff = True


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"门店{n}")
    province = "上海"
    city = "上海"


class GuideFactory(factory.django.DjangoModelFactory):
    """A shop guide with a staff login, belonging to one store."""

    class Meta:
        model = models.Guide

    user = factory.SubFactory(
        UserFactory, username=factory.Sequence(lambda n: f"guide{n}"), is_staff=True
    )
    store = factory.SubFactory(StoreFactory)
    name = factory.Sequence(lambda n: f"导购{n}")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.Sequence(lambda n: f"等级{n}")
    rank = factory.Sequence(lambda n: n)


class MemberFactory(factory.django.DjangoModelFactory):
    """A member with a valid, unique mainland mobile number (E.164)."""

    class Meta:
        model = models.Member

    name = factory.Sequence(lambda n: f"会员{n}")
    phone = factory.Sequence(lambda n: f"+86139{n:08d}")
    source = "miniprogram"
    home_store = factory.SubFactory(StoreFactory)


class TagGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TagGroup
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签组{n}")
    multi_select = True


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Tag

    group = factory.SubFactory(TagGroupFactory)
    name = factory.Sequence(lambda n: f"标签{n}")


class OrderFactory(factory.django.DjangoModelFactory):
    """A paid order. Note: created directly, so member stats are not refreshed; use
    members.services.orders.order_upsert when a test needs the stats."""

    class Meta:
        model = models.Order

    source = "pos"
    external_id = factory.Sequence(lambda n: f"ORD{n:06d}")
    member = factory.SubFactory(MemberFactory)
    paid_amount = Decimal("199.00")
    gross_margin = Decimal("80.00")
    item_count = 1
    paid_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CouponTemplate

    name = factory.Sequence(lambda n: f"满100减{n % 50 + 10}")
    value = Decimal("20.00")
    threshold = Decimal("100.00")
    valid_days = 30


# --- groups ----------------------------------------------------------------------------------


class JoinCodeFactory(factory.django.DjangoModelFactory):
    """A join code (群活码) whose pool opens groups of 3 seats: small enough to fill in a test."""

    class Meta:
        model = "groups.JoinCode"

    code = factory.Sequence(lambda n: f"G{n:05d}".replace("0", "Z").replace("1", "Y"))
    name = factory.Sequence(lambda n: f"福利群{n}")
    store = factory.SubFactory(StoreFactory)
    group_capacity = 3


class CommunityGroupFactory(factory.django.DjangoModelFactory):
    """An open group. Members are seated through groups.services (the counter is theirs)."""

    class Meta:
        model = "groups.CommunityGroup"

    name = factory.Sequence(lambda n: f"会员群{n}")
    store = factory.SubFactory(StoreFactory)
    capacity = 500
