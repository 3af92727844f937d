"""Django admin of the campaigns app, for operators: campaigns (schedule, variants, messages,
launch / pause / cancel, results, preview), and read-only touchpoints, runs and guide tasks.
Shop guides see none of it. Writes go through campaigns.services.
"""

from campaigns.admin import campaign, records  # noqa: F401
