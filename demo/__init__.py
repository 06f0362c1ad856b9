"""`presales demo`: a seeded sandbox org, seven weeks of presales work replayed in it by its
people (each with their own session, through the real connectors), then the real sync,
scoring and report, as a new user would see them.

The demo is one corner of the tree: it may use every layer (it starts the sandbox, installs
the fields, runs the sync), and no layer imports it. `run` is the demo itself, `history` the
replayed weeks, `org_seed` the plugin's part of the sandbox org (also what `presales sandbox
serve` seeds). Tests keep their own helpers (tests/e2e/e2e_support.py, tests/sandbox_seed.py)."""

from presales_sync.demo.run import CRMS, FLOOR_BATCHES, DemoResult, floor_calls, run_demo

__all__ = ["CRMS", "FLOOR_BATCHES", "DemoResult", "floor_calls", "run_demo"]
