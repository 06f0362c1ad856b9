"""End-to-end fixtures (the helpers live in e2e_support.py)."""

from e2e_support import crm_org, fresh_org, org  # noqa: F401  (fixtures)
