"""Views of the members API, one module per resource; routes in members/api/urls.py."""
