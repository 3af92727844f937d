"""The OpenAPI schema of the members API generates cleanly and is served."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns any drf-spectacular warning (an untyped field, an enum collision,
    # a view it cannot introspect) into an error, so a regression fails here, not in a client.
    call_command(
        "spectacular", "--file", str(tmp_path / "schema.yml"), "--validate", "--fail-on-warn"
    )
    text = (tmp_path / "schema.yml").read_text()
    for path in ("/api/v1/members/upsert/", "/api/v1/orders/", "/api/v1/me/consent/"):
        assert path in text


def test_schema_and_docs_are_served(api):
    assert api.get("/api/schema/").status_code == 200
    assert api.get("/api/docs/").status_code == 200
