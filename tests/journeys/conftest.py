"""A tiny lake for the journey marts: tests/marts' LakeWriter plus Segment funnel events written the way the
generator sends them (track events with properties, context.channel web/app)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest

from cdp.lake import Lake
from tests.marts.conftest import LakeWriter

__all__ = ["JourneyLake", "LakeWriter"]


class JourneyLake(LakeWriter):
    """LakeWriter with helpers that write a session of funnel events, an order and a ticket."""

    def __init__(self, lake: Lake) -> None:
        super().__init__(lake)
        self._ids = count(1)

    def session(
        self,
        visitor: str,
        start: datetime,
        events: list[str],
        *,
        channel: str = "web",
        customer_id: str | None = None,
        order_id: str | None = None,
        gap: timedelta = timedelta(minutes=1),
        ingested_at: datetime | None = None,
    ) -> list[str]:
        """Track events one `gap` apart from `start`; linked to `customer_id` in the identity map when given."""
        rows: list[dict[str, Any]] = []
        for i, event in enumerate(events):
            message_id = f"msg-{next(self._ids):04d}"
            at = start + i * gap
            properties = {"order_id": order_id} if event in ("Checkout Started", "Order Completed") else {"sku": "S1"}
            rows.append({"type": "track", "messageId": message_id, "anonymousId": visitor, "event": event,
                         "properties": json.dumps(properties), "context_channel": channel,
                         "timestamp": at})  # fmt: skip
            if customer_id is not None:
                self.link(customer_id, "events", message_id, at)
        self.bronze("events", rows, ingested_at=ingested_at)
        return [r["messageId"] for r in rows]


@pytest.fixture
def journey_lake(lake: Lake) -> JourneyLake:
    return JourneyLake(lake)
