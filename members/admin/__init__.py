"""Django admin of the members app, for operators (运营) and shop guides (导购).

Importing the modules registers their ModelAdmins. Guides see only their store's members and
what hangs off them, with masked phones; writes go through members.services.
"""

from members.admin import member, records, segments, stores, tags, value  # noqa: F401
