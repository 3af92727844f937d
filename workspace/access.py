"""Who may use the workspace: signed-in, active shop guides. Everyone else is sent to sign in
(through the admin's sign-in, which carries the lockout) or told that the workspace is not
theirs."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from scrm.api.permissions import is_guide


def guide_required(view):
    """Let active shop guides through; send the signed-out to the sign-in page and show
    everyone else (operators, inactive guides) a page saying where to go instead. Pages hold
    customers' data: nothing is kept in a browser's or a proxy's cache."""

    @never_cache
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not is_guide(request.user) or not request.user.guide.is_active:
            return render(request, "workspace/not_a_guide.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
