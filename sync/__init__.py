"""Orchestration and persistence: the layer between the command line and the CRM.

`service` does what each `presales` command does, minus the printing; `engine` is one sync
run, `ledger` its echo suppression and write-back diff, `plan` the values a task should show
in the CRM, `reminders` the escalation lists; `activities` and `scoring` feed and score the
KPI period, `report` renders it; `config` reads presales.yaml and the roster (`config_secrets`
refuses one that holds a secret); `store` is the database; `wire_errors` points what the CRM
says about our files back at the line to fix; `logfmt` formats diagnostics. (`presales
demo` lives in its own package, `presales_sync.demo`.) The modules are the surface: nothing
is re-exported."""

__all__ = ["activities", "config", "config_secrets", "engine", "ledger", "logfmt", "plan", "reminders",
           "report", "scoring", "service", "store", "wire_errors"]
