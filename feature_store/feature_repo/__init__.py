"""The Feast feature repository, laid out as in Feast's templates.

Feast's own templates define data sources at module level with a path in the file. Here every path comes from the
lake the store serves (``Settings.lake_root``, read at entry points only), so the sources, and the views built on
them, are made by functions of a :class:`cdp.lake.Lake`; :func:`feature_repo.definitions` returns everything
``FeatureStore.apply`` registers.
"""

from __future__ import annotations

from typing import Any

from cdp.lake import Lake
from feature_store.feature_repo.data_sources import lake_sources
from feature_store.feature_repo.entities import customer
from feature_store.feature_repo.feature_services import feature_services
from feature_store.feature_repo.feature_views import feature_views


def definitions(lake: Lake) -> list[Any]:
    """The entities, data sources, feature views and feature services for the lake at ``lake.root``."""
    sources = lake_sources(lake)
    views = feature_views(sources)
    return [customer, *sources.all(), *views.all(), *feature_services(views)]
