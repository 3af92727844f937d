"""Fixtures for the members tests: factories as fixtures, and API clients per role."""

import pytest
from rest_framework.test import APIClient

from members.api.auth import member_token_issue
from scrm.api.keys import api_key_create
from tests import factories


@pytest.fixture
def store():
    return factories.StoreFactory()


@pytest.fixture
def other_store():
    return factories.StoreFactory()


@pytest.fixture
def operator():
    return factories.OperatorFactory()


@pytest.fixture
def guide(store):
    return factories.GuideFactory(store=store)


@pytest.fixture
def member(store):
    return factories.MemberFactory(home_store=store)


@pytest.fixture
def api():
    """An unauthenticated API client."""
    return APIClient()


@pytest.fixture
def operator_api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def guide_api(guide):
    client = APIClient()
    client.force_authenticate(guide.user)
    return client


@pytest.fixture
def make_key_api():
    """Build an API client authenticated by a real API key with the given scopes."""

    def make(*scopes):
        _key, secret = api_key_create(name="POS", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        return client

    return make


@pytest.fixture
def member_api(member):
    """An API client signed in as ``member`` with a real member token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Member {member_token_issue(member=member)}")
    return client


# --- API tests (tests/members/test_api_*.py) --------------------------------------------------


@pytest.fixture
def other_member(other_store):
    """A member of another store than ``guide``'s."""
    return factories.MemberFactory(home_store=other_store)


@pytest.fixture
def make_member_api():
    """Build an API client signed in as the given member with a real member token."""

    def make(member):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Member {member_token_issue(member=member)}")
        return client

    return make


# --- Admin (tests/members/test_admin_*.py) ----------------------------------------------------


@pytest.fixture
def roles(db):
    """The "Operators" and "Shop guides" groups as `manage.py setup_roles` makes them."""
    from members.management.commands.setup_roles import OPERATORS, SHOP_GUIDES, role_group

    return {"operators": role_group(OPERATORS), "guides": role_group(SHOP_GUIDES)}


@pytest.fixture
def operator_admin(operator, roles):
    """A Django test client signed in to the admin as an operator (Operators group)."""
    from django.test import Client

    operator.groups.add(roles["operators"])
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def guide_admin(guide, roles):
    """A Django test client signed in to the admin as a shop guide (Shop guides group)."""
    from django.test import Client

    guide.user.groups.add(roles["guides"])
    client = Client()
    client.force_login(guide.user)
    return client
