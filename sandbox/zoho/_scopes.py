"""OAuth scopes of the Zoho half: what a token may do, checked for the settings APIs that
issue 14 added (modules, profiles, variables).

A token minted by the refresh-token grant (and `ZohoApi.token_for` without scopes) holds
`DEFAULT_SCOPES`, so every token that worked before keeps working; a test mints a narrower
one to see ``401 OAUTH_SCOPE_MISMATCH``. Families not listed in `REQUIRED` are not checked
(the sandbox never checked them). Scope names compare case-insensitively: Zoho's docs spell
``ZohoCRM.settings.modules.ALL``, its OAS ``ZohoCRM.settings.modules.all``.

Sources: https://zoho.com/crm/developer/docs/api/v8/create-custom-module-api.html (modules:
``ZohoCRM.settings.modules.CREATE`` / ``.ALL`` or ``ZohoCRM.settings.ALL``),
https://zoho.com/crm/developer/docs/api/v8/create-variables.html (variables:
``ZohoCRM.settings.variables.{ALL|CREATE|READ|UPDATE|DELETE}``); docs/design/issue-14-wire-facts.md §7, §11.
"""

from __future__ import annotations

from presales_sync.sandbox.zoho._wire import ZohoError

DEFAULT_SCOPES = (
    "ZohoCRM.modules.ALL ZohoCRM.settings.fields.ALL ZohoCRM.settings.modules.ALL "
    "ZohoCRM.settings.profiles.READ ZohoCRM.settings.variables.ALL ZohoCRM.users.ALL ZohoCRM.org.READ"
)


def _any_of(resource: str, operation: str) -> tuple[str, ...]:
    return (
        f"ZohoCRM.settings.{resource}.{operation}",
        f"ZohoCRM.settings.{resource}.ALL",
        "ZohoCRM.settings.ALL",
    )


#: Request family → the scopes any one of which lets a token through.
REQUIRED: dict[str, tuple[str, ...]] = {
    "zoho_modules_get": _any_of("modules", "READ"),
    "zoho_modules_post": _any_of("modules", "CREATE"),
    "zoho_modules_put": _any_of("modules", "UPDATE"),
    "zoho_profiles_get": _any_of("profiles", "READ"),
    "zoho_variables_get": _any_of("variables", "READ"),
    "zoho_variables_post": _any_of("variables", "CREATE"),
    "zoho_variables_put": _any_of("variables", "UPDATE"),
    "zoho_variables_delete": _any_of("variables", "DELETE"),
}


def check_scope(family: str, granted: str | None) -> None:
    """Raise ``401 OAUTH_SCOPE_MISMATCH`` unless the token's scopes (None: the default set)
    let it make a call of `family`."""
    wanted = REQUIRED.get(family)
    if wanted is None:
        return
    have = {s.lower() for s in (granted if granted is not None else DEFAULT_SCOPES).replace(",", " ").split()}
    if not any(w.lower() in have for w in wanted):
        raise ZohoError(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
