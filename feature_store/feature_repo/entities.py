"""Entities: the customer, keyed on the stable ``customer_id`` from identity resolution (gold.identity_map)."""

from __future__ import annotations

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A person across every source, as resolved by identity resolution (gold.identity_map).",
)
