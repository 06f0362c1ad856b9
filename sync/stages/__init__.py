"""The stages of one sync run, each a function of the run's inputs (`context.RunContext`)
and the small frozen value the stage before it returned: `read` streams the changed pages
and moves the cursor, `apply` turns each page into opportunities and task events
(`Applied`), `evaluate` runs the rules and assignment over the due tasks (`Evaluation`),
`plan` diffs the desired values against the ledger (`Plan`), `write` sends the changes and
records what the CRM acknowledged, `finish` completes the report. `sync.engine` is the
pipeline that calls them in order. The modules are the surface: nothing is re-exported."""

__all__ = ["apply", "context", "evaluate", "finish", "plan", "read", "write"]
