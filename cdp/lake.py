"""The lake layout: every table's name and location, in one place.

Tables live at ``<lake_root>/<layer>/<name>`` and are all Delta tables. Nothing else in the code base builds a
lake path by hand: ask a :class:`Lake` for a :class:`Table`'s path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Layer(StrEnum):
    BRONZE = "bronze"  # landing rows that passed the contract, typed, with lineage
    QUARANTINE = "quarantine"  # rows and files that failed the contract, with the reason and the raw text
    SILVER = "silver"  # cleaned, conformed data (identity graph, normalised identifiers)
    GOLD = "gold"  # marts read by people and applications
    AUDIT = "audit"  # what the platform did: ingest log, runs, decisions, erasures


@dataclass(frozen=True, order=True)
class Table:
    layer: Layer
    name: str

    @property
    def qualified_name(self) -> str:
        return f"{self.layer.value}.{self.name}"

    def __str__(self) -> str:
        return self.qualified_name


def bronze(source: str) -> Table:
    return Table(Layer.BRONZE, source)


def quarantine(source: str) -> Table:
    return Table(Layer.QUARANTINE, source)


INGEST_LOG = Table(Layer.AUDIT, "ingest_log")  # one row per landing file handled
INGEST_RUNS = Table(Layer.AUDIT, "ingest_runs")  # one row per ingest run start and end (crash recovery)

# Identity resolution (spark_jobs/): the graph in silver, the answer in gold, the runs in audit.
IDENTITY_IDENTIFIERS = Table(Layer.SILVER, "identity_identifiers")  # record x identifier, normalised, with status
IDENTITY_MATCH_PAIRS = Table(Layer.SILVER, "identity_match_pairs")  # scored probabilistic pairs with evidence
IDENTITY_PROFILES = Table(Layer.SILVER, "identity_profiles")  # person profiles compared by the matcher, by customer
CUSTOMER_ID_REGISTRY = Table(Layer.SILVER, "customer_id_registry")  # every customer_id ever minted
IDENTITY_MAP = Table(Layer.GOLD, "identity_map")  # source record -> customer_id
IDENTITY_MERGE_HISTORY = Table(Layer.GOLD, "identity_merge_history")  # merges and splits of customer ids
IDENTITY_RUNS = Table(Layer.AUDIT, "identity_runs")  # per run: rules version, counts, cluster sizes, timings

# The marts built by dbt (dbt_project/, models/marts/): the profile, traits and audiences.
CUSTOMERS = Table(Layer.GOLD, "customers")  # golden record: one row per customer_id, each attribute with its source
CUSTOMER_ORDERS = Table(Layer.GOLD, "customer_orders")  # every order on every channel with its customer
CUSTOMER_CONSENTS = Table(Layer.GOLD, "customer_consents")  # consent in force per customer, purpose and channel
CUSTOMER_CONSENT_HISTORY = Table(Layer.GOLD, "customer_consent_history")  # every consent event with its customer
CUSTOMER_CONTACT_HISTORY = Table(Layer.GOLD, "customer_contact_history")  # every message sent with its customer
CUSTOMER_CONSENT_RANGES = Table(Layer.GOLD, "customer_consent_ranges")  # each consent event in force from/to
CUSTOMER_TRAITS = Table(Layer.GOLD, "customer_traits")  # traits as of the run's as_of
CUSTOMER_TRAIT_HISTORY = Table(Layer.GOLD, "customer_trait_history")  # one traits snapshot per as_of
CUSTOMER_CLV = Table(Layer.GOLD, "customer_clv")  # P(alive), expected purchases and value per customer
CLV_MODEL_FIT = Table(Layer.GOLD, "clv_model_fit")  # the BG/NBD and Gamma-Gamma fits
AUDIENCES = Table(Layer.GOLD, "audiences")  # audience definitions in force
AUDIENCE_MEMBERSHIPS = Table(Layer.GOLD, "audience_memberships")  # who was in which audience, when

# Journey analytics (dbt models/marts/journeys/): funnel, carts, service levels, retention, cross-channel journeys.
JOURNEY_FUNNEL = Table(Layer.GOLD, "journey_funnel")  # week x channel x step: sessions reaching each step in order
JOURNEY_TIME_TO_PURCHASE = Table(Layer.GOLD, "journey_time_to_purchase")  # week x channel: view-to-purchase minutes
JOURNEY_CART_ABANDONMENT = Table(Layer.GOLD, "journey_cart_abandonment")  # week x channel: carts, abandoned, rate
SUPPORT_SERVICE_METRICS = Table(Layer.GOLD, "support_service_metrics")  # week x ticket channel: FCR, waits
CUSTOMER_RETENTION_COHORTS = Table(Layer.GOLD, "customer_retention_cohorts")  # first-purchase month x months since
CROSS_CHANNEL_JOURNEYS = Table(Layer.GOLD, "cross_channel_journeys")  # per customer: online/store crossings
CROSS_CHANNEL_JOURNEY_PATTERNS = Table(Layer.GOLD, "cross_channel_journey_patterns")  # customers per pattern

# Customer experience (models/marts/cx/, cx/cases.py): survey metrics, follow-up cases and the agents' actions on them.
CX_SURVEY_RESPONSES = Table(Layer.GOLD, "cx_survey_responses")  # one row per survey answer, category, customer or null
CX_SURVEY_METRICS = Table(Layer.GOLD, "cx_survey_metrics")  # NPS/CSAT/CES with intervals per dimension and period
CX_KEY_DRIVERS = Table(Layer.GOLD, "cx_key_drivers")  # survey type x driver: share of R² and slope, with intervals
CX_CASES = Table(Layer.GOLD, "cx_cases")  # one follow-up case per triggering record, status from the action log
CX_CASE_METRICS = Table(Layer.GOLD, "cx_case_metrics")  # per week, queue and trigger: opened, closed, SLA, repeats
CX_BOT_HANDOFFS = Table(Layer.GOLD, "cx_bot_handoffs")  # bot contacts flagged for a person, with the reasons
CX_BOT_HANDOFF_METRICS = Table(Layer.GOLD, "cx_bot_handoff_metrics")  # per week: complex bot contacts reaching a human
CX_CASE_ACTIONS = Table(Layer.AUDIT, "cx_case_actions")  # appended by agents (cx/cases.py): the truth of case status
CX_TEXT_INSIGHTS = Table(Layer.GOLD, "cx_text_insights")  # per survey comment / ticket: language, sentiment, topics

# Activation (activation/): one decision per person per sync, the sync records, and the deliveries log that is the
# sync state (what each destination holds); erasure receipts and the hashed suppression list.
ACTIVATION_DECISIONS = Table(Layer.AUDIT, "activation_decisions")  # one row per person considered per sync
ACTIVATION_SYNCS = Table(Layer.AUDIT, "activation_syncs")  # sync started/completed/failed with counts
ACTIVATION_DELIVERIES = Table(Layer.AUDIT, "activation_deliveries")  # delivered batches: the sync state
ERASURE_RECEIPTS = Table(Layer.AUDIT, "erasure_receipts")  # one row per erasure, hashed identifiers only
SUPPRESSION_LIST = Table(Layer.AUDIT, "suppression_list")  # SHA-256 of erased identifiers, dropped at bronze


@dataclass(frozen=True)
class Lake:
    root: Path

    def path(self, table: Table) -> Path:
        return self.root / table.layer.value / table.name

    def uri(self, table: Table) -> str:
        return str(self.path(table))

    def exists(self, table: Table) -> bool:
        return (self.path(table) / "_delta_log").is_dir()

    def staging_dir(self, run_id: str) -> Path:
        """Scratch space for one run's checkpoints (Sail's cache() is a no-op); deleted when the run ends."""
        return self.root / "_staging" / run_id

    def model_path(self, name: str) -> Path:
        """A trained model saved as JSON beside the data it was trained on (e.g. ``identity_fs``)."""
        return self.root / "_models" / f"{name}.json"

    def marts_dir(self) -> Path:
        """dbt's working folder for this lake: the DuckDB database, dbt's target and logs (rebuildable)."""
        return self.root / "_marts"

    def lock_path(self, name: str) -> Path:
        """A lock file that serialises one kind of writer on this lake (e.g. ``ingest``)."""
        return self.root / "_locks" / f"{name}.lock"

    def exports_dir(self) -> Path:
        """Default folder of the file-drop activation destinations and the webhook dead letters."""
        return self.root / "_exports"

    def tables(self) -> list[Table]:
        """Every Delta table that exists under the lake root, sorted by layer and name."""
        found = []
        for layer in Layer:
            layer_dir = self.root / layer.value
            if layer_dir.is_dir():
                found += [Table(layer, p.name) for p in layer_dir.iterdir() if (p / "_delta_log").is_dir()]
        return sorted(found)

    def table(self, qualified_name: str) -> Table:
        """Parse ``layer.name`` (as shown by ``cdp status``) into a Table, with a clear error."""
        layer, _, name = qualified_name.partition(".")
        if layer not in Layer.__members__.values() or not name:
            layers = ", ".join(layer.value for layer in Layer)
            raise ValueError(
                f"{qualified_name!r} is not a table name: write <layer>.<table> with layer one of {layers}"
            )
        return Table(Layer(layer), name)
