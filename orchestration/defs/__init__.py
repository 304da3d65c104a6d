"""Per-domain Dagster definitions; ``orchestration.definitions`` merges them."""
