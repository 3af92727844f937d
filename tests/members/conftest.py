"""Fixtures for the members tests: factories as fixtures, and API clients per role."""

import pytest
from rest_framework.test import APIClient

from members.api.auth import member_token_issue
from tests import factories


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
