"""Serializers of the members API, one module per resource."""
