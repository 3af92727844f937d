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


def test_docs_page_loads_nothing_from_another_host(api, settings):
    """Swagger UI comes from our own static files (drf-spectacular-sidecar), never a CDN: CDNs
    are often blocked in mainland China, and many installs have no outbound network."""
    import re

    response = api.get("/api/docs/")
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""url\s*:\s*["']([^"']+)["']""", html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls), urls
    external = [url for url in urls if re.match(r"^(?:[a-z]+:)?//", url)]
    assert external == []
    assert not re.search(r"https?://(?!testserver)", html.replace("http://www.w3.org", ""))
    # The files it names are served (from the sidecar app's static folder).
    static = [url for url in urls if url.startswith(settings.STATIC_URL) or "/static/" in url]
    assert static
    from django.contrib.staticfiles import finders

    for url in static:
        path = url.split("/static/", 1)[1].split("?")[0]
        assert finders.find(path), url
