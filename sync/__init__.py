"""Orchestration and persistence: the layer between the command line and the CRM.

`service` does what each `presales` command does, minus the printing; `engine` is one sync
run read as its `stages`, `ledger` its echo suppression, write-back diff and ledger rows,
`cursor` where a read starts and how far a page moves it, `plan` the values a task should show
in the CRM, `reminders` the escalation lists; `activities` and `scoring` feed and score the
KPI period, `report` renders it; `config` reads presales.yaml and the roster (`config_secrets`
refuses one that holds a secret); `store` is the database; `wire_errors` points what the CRM
says about our files back at the line to fix; `logfmt` formats diagnostics. (`presales
demo` lives in its own package, `presales_sync.demo`.) The modules are the surface: nothing
is re-exported."""

__all__ = ["activities", "config", "config_secrets", "cursor", "engine", "ledger", "logfmt", "plan",
           "reminders", "report", "scoring", "service", "stages", "store", "wire_errors"]
