"""Errors outside DRF's views still reach an API client as JSON (and a browser as a page)."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client():
    client = APIClient()
    client.force_authenticate(factories.OperatorFactory())
    return client


def test_an_unknown_api_address_is_a_json_404_for_every_method(operator_client):
    for method in ("get", "post", "patch", "delete"):
        response = getattr(operator_client, method)(
            "/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == 404, method
        assert response.json() == {"detail": "Not found."}


def test_a_query_with_too_many_fields_is_a_json_400(operator_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = operator_client.get(
        "/api/v1/members/?" + "&".join(f"tag={n}" for n in range(20)),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The request could not be read."}


def test_the_api_takes_json_bodies_only(operator_client):
    response = operator_client.post(
        "/api/v1/tag-groups/", {"name": "肤质"}, format="multipart", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_a_member_id_beyond_64_bits_is_a_404_not_a_crash(operator_client):
    assert operator_client.get("/api/v1/members/30793197844692841907974/").status_code == 404


def test_browsers_still_get_pages_outside_the_api():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
