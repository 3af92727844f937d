"""Fixtures shared by the whole suite.

Sections:
  1. General: paths and subprocess helpers (project tests: health, settings, worker).
  2. People and clients every app's tests use: stores, an operator, a guide, their roles, and
     clients signed in as them (app conftests add their own on top).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# --- 1. General ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_rate_limits(monkeypatch):
    """Each test starts with empty rate-limit counters (they live in the shared cache)."""
    import uuid

    from scrm.api.throttles import LoginThrottle

    monkeypatch.setattr(LoginThrottle, "scope", f"login-{uuid.uuid4().hex}")


PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project_root() -> Path:
    """The checkout's root directory (where manage.py lives)."""
    return PROJECT_ROOT


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python <args>`` in the project root with this interpreter and an adjusted environment.

    ``env`` entries are set on top of the current environment; a value of ``None`` removes the
    variable. Output is captured as text; the call never raises on a non-zero exit.
    """

    def run(
        *args: str, env: dict[str, str | None] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        child_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                child_env.pop(key, None)
            else:
                child_env[key] = value
        return subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --- 2. People and clients ------------------------------------------------------------------


@pytest.fixture
def store():
    from tests import factories

    return factories.StoreFactory()


@pytest.fixture
def other_store():
    from tests import factories

    return factories.StoreFactory()


@pytest.fixture
def operator():
    from tests import factories

    return factories.OperatorFactory()


@pytest.fixture
def guide(store):
    from tests import factories

    return factories.GuideFactory(store=store)


@pytest.fixture
def make_key_api():
    """Build an API client authenticated by a real API key with the given scopes."""
    from rest_framework.test import APIClient

    from scrm.api.keys import api_key_create

    def make(*scopes):
        _key, secret = api_key_create(name="POS", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        return client

    return make


@pytest.fixture
def staff_client():
    """Build an API client signed in as the given staff user."""
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


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
