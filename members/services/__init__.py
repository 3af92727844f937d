"""Everything that writes member data. Each service runs in one transaction.

Services take plain, typed keyword arguments, raise django.core.exceptions.ValidationError
(with field names where they apply) on bad input and write nothing in that case.
"""
