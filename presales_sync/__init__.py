"""presales-sync: presales (solution-engineering) management inside the CRM a company runs.

The one import package the distribution installs. Its parts are the layers of the design,
each a subpackage: `connector` (one adapter per CRM, speaking HTTP), `sandbox` (the local
CRM emulator, importing none of the others), `mappings` (admin mapping files and their pure
application), `rules` (the pure presales domain), `sync` (orchestration, store, ledger, reports), `demo`
(`presales demo`, one corner that uses them all) and `cli` (the `presales` command). In a
source checkout they are the repository's top-level folders, reached through links in this
folder; a wheel holds them here."""

__all__ = ["cli", "connector", "demo", "mappings", "rules", "sandbox", "sync"]
