"""Shared REST API pieces: the v1 router, authentication, permissions, pagination."""
