"""Fixtures shared by the whole suite.

Sections:
  1. General: paths and subprocess helpers (project tests: health, settings, worker).
  2. Factories as fixtures: added per app below (see tests/factories.py).
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


# --- 2. Factories as fixtures ----------------------------------------------------------------
