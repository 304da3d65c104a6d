"""Features for personalisation and ML: the Feast repo on the gold marts, its stores per environment, the profile API.

- ``feature_repo/``: entities, data sources (the gold Delta tables), feature views and versioned feature services.
- :mod:`feature_store.config`: the Feast ``RepoConfig`` built from :class:`cdp.settings.Settings` (no YAML on disk).
- :mod:`feature_store.store`: apply, materialise (incremental), historical (training sets) and online features.
- :mod:`feature_store.api`: the profile API served by ``cdp serve``.
"""
