"""The Salesforce org of the sandbox: documented subsets of its APIs, served by the core.

- `_api`: REST (versions, OAuth JWT bearer, userinfo, sObjects, sObject Collections, query,
  describe), routing, API usage and Salesforce's error bodies.
- `_soql` (parser) and `_query` (compiler to SQLite): the SOQL subset.
- `_bulk`: Bulk API 2.0 ingest and query jobs.
- `_metadata`: the Metadata SOAP API's CustomField calls; `_metadata_objects` its CustomObject
  calls (a detail object with its Master-Detail field, a list custom setting).
- `_upsert`: sObject Collections upsert by external id; `_history`: field history
  (``OpportunityFieldHistory``, ``Name__History``) of fields with ``trackHistory``.
- `_catalog` (the schema as data), `_objects` (custom objects as catalogue data), `_store` (the
  org in SQLite), `_security` (permission sets, field-level security, object permissions),
  `_values` (wire ↔ storage values), `_seed` (the generated org).

The `Sandbox` handle composes it; offered on its own is only `SAMPLE_INDUSTRIES`, the
Industry picklist of the sample accounts (a seed matching people to accounts draws from it).
"""

from presales_sync.sandbox.salesforce._catalog import INDUSTRIES as SAMPLE_INDUSTRIES

__all__ = ["SAMPLE_INDUSTRIES"]
