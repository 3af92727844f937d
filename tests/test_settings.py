"""Settings read from the environment: refuse insecure production, pass the deploy checklist.

Each case runs in a fresh interpreter, because settings are read once per process. Real
environment variables win over the local .env that `make` writes, so DEBUG=0 here overrides it.
"""

import json
import secrets

SETUP = "import django; django.setup(); "
# A production container has no .env; this makes settings behave as if the file were absent.
WITHOUT_DOTENV = "import environ; environ.Env.read_env = lambda *args, **kwargs: None; "
PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "crm.example.com",
    "DJANGO_SETTINGS_MODULE": "scrm.settings",
}


def production_env(**extra):
    """Production-like variables with a strong key; ``extra`` overrides (None unsets)."""
    return {**PRODUCTION_ENV, "SECRET_KEY": secrets.token_urlsafe(64), **extra}


def test_debug_off_with_the_default_key_is_refused(run_python):
    from scrm.settings import INSECURE_DEFAULT_SECRET_KEY

    result = run_python("-c", SETUP, env=production_env(SECRET_KEY=INSECURE_DEFAULT_SECRET_KEY))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_off_without_any_key_is_refused(run_python):
    # Without the stub the local .env would supply this checkout's key.
    result = run_python("-c", WITHOUT_DOTENV + SETUP, env=production_env(SECRET_KEY=None))

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_variables_are_applied(run_python):
    code = (
        SETUP + "from django.conf import settings as s; import json; print(json.dumps({"
        "'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'], "
        "'conn_max_age': s.DATABASES['default']['CONN_MAX_AGE'], "
        "'broker': s.CELERY_BROKER_URL, 'cache': s.CACHES['default']['BACKEND'], "
        "'ssl_redirect': s.SECURE_SSL_REDIRECT, 'hosts': s.ALLOWED_HOSTS}))"
    )
    env = production_env(
        DATABASE_URL="postgres://scrm:secret@db.internal:5432/scrm",
        REDIS_URL="redis://redis.internal:6379/0",
        CONN_MAX_AGE="60",
    )

    result = run_python("-c", code, env=env)

    assert result.returncode == 0, result.stderr
    applied = json.loads(result.stdout.strip().splitlines()[-1])
    assert applied == {
        "debug": False,
        "engine": "django.db.backends.postgresql",
        "conn_max_age": 60,
        "broker": "redis://redis.internal:6379/0",
        "cache": "django.core.cache.backends.redis.RedisCache",
        "ssl_redirect": True,
        "hosts": ["crm.example.com"],
    }


def test_deploy_checklist_passes_with_production_settings(run_python):
    result = run_python(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env()
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_checklist_fails_with_a_weak_key(run_python):
    result = run_python(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=production_env(SECRET_KEY="short"),
    )

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr
