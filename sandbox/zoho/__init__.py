"""The same org as Zoho CRM: the v8 API and Zoho's accounts server, served by the core.

- `_api`: routing, records, users, fields, credits, page tokens and Zoho's error bodies;
  its docstring lists the wire choices it makes.
- `_accounts`: the accounts server (refresh-token grants, their limit, access tokens).
- `_limits`: `ZohoLimits`, Zoho's documented limits, lowerable for fast tests.
- `_wire`: values in Zoho's wire shapes (times in the org's zone, lookups, coercion).
- `_store` (the org in SQLite), `_fields` (field metadata and its API), `_seed` (built from
  the seeded Salesforce org, ids in Zoho's 19-digit style), `_handle` (the Zoho half of
  the `Sandbox` handle).
- `_modules` (Create Custom Module, profiles; Zoho has no module delete), `_upsert` (Insert
  and Upsert Records as the caller), `_variables` (org variables), `_scopes` (the OAuth
  scopes the settings APIs check), `_seed_objects` (`OrgSeed.objects` as custom modules).
"""

from presales_sync.sandbox.zoho._limits import ZohoLimits

__all__ = ["ZohoLimits"]
