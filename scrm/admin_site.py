"""The admin app, with our default site: INSTALLED_APPS lists ``scrm.admin_site.ScrmAdminConfig``
in place of ``django.contrib.admin`` (Django's documented way to replace the default site).

Kept apart from scrm.lockout because this module is imported while apps load, before models can
be; the site class is named by path and imported once they are.
"""

from django.contrib.admin.apps import AdminConfig


class ScrmAdminConfig(AdminConfig):
    """django.contrib.admin, whose ``admin.site`` refuses locked-out sign-ins (scrm.lockout)."""

    default_site = "scrm.lockout.LockoutAdminSite"
