"""Who may see what in the CX console: roles, the permissions each holds, and which permission every route needs.

Authorisation is this data, checked on the server for every page and API call (``console.app``): a route missing
from :data:`ROUTE_PERMISSIONS` is refused to everyone, so a new page is closed until it is declared here.

- ``aggregates``: survey metrics, key drivers, funnel, retention cohorts, audience sizes (no person in them).
- ``verbatims``: survey comments and ticket text with personal data masked; no contact details.
- ``cases``: the case queue and case pages with the customer's contact details and history; recording follow-ups.
- ``activation``: audiences, dry-run counts per decision, and triggering an export the activation rules schedule.
- ``users``: the users overview (names and roles; never the hashes).
"""

from __future__ import annotations

from typing import Literal

Role = Literal["executive", "cx_analyst", "agent", "marketer", "admin"]
Permission = Literal["aggregates", "verbatims", "cases", "activation", "users"]

ROLES: tuple[Role, ...] = ("executive", "cx_analyst", "agent", "marketer", "admin")

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "executive": frozenset({"aggregates"}),
    "cx_analyst": frozenset({"aggregates", "verbatims"}),
    # agents work people one at a time: no store-level NPS tables, no other aggregates
    "agent": frozenset({"cases"}),
    # marketers see audiences and counts, never a person (no contact details, no verbatims)
    "marketer": frozenset({"activation"}),
    "admin": frozenset({"aggregates", "verbatims", "cases", "activation", "users"}),
}

# Route name (as declared in console.app) -> the permission it needs. Pages and their JSON twins side by side.
ROUTE_PERMISSIONS: dict[str, Permission] = {
    "metrics_page": "aggregates",
    "metrics_api": "aggregates",
    "drivers_page": "aggregates",
    "drivers_api": "aggregates",
    "journeys_page": "aggregates",
    "journeys_api": "aggregates",
    "segments_page": "aggregates",
    "segments_api": "aggregates",
    "verbatims_page": "verbatims",
    "verbatims_api": "verbatims",
    "cases_page": "cases",
    "cases_api": "cases",
    "case_page": "cases",
    "case_api": "cases",
    "case_action_form": "cases",
    "case_action_api": "cases",
    "audiences_page": "activation",
    "audiences_api": "activation",
    "audience_page": "activation",
    "audience_dry_run_api": "activation",
    "audience_export_form": "activation",
    "audience_export_api": "activation",
    "users_page": "users",
    "users_api": "users",
}

# The navigation: (route name, label), shown to a role only where it holds the permission.
NAVIGATION: tuple[tuple[str, str], ...] = (
    ("metrics_page", "NPS & CSAT"),
    ("drivers_page", "Key drivers"),
    ("journeys_page", "Journeys"),
    ("segments_page", "Segments"),
    ("verbatims_page", "Verbatims"),
    ("cases_page", "Case queue"),
    ("audiences_page", "Audiences"),
    ("users_page", "Users"),
)


def may(role: str, route_name: str) -> bool:
    """Whether ``role`` may call the route; unknown roles and undeclared routes are refused."""
    needed = ROUTE_PERMISSIONS.get(route_name)
    return needed is not None and needed in ROLE_PERMISSIONS.get(role, frozenset())


def navigation(role: str) -> list[tuple[str, str]]:
    return [(name, label) for name, label in NAVIGATION if may(role, name)]
