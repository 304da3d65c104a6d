"""Customer-experience analytics: survey metrics, the closed loop (follow-up cases), text analytics and key drivers.

The SQL-shaped parts are dbt models under ``dbt_project/models/*/cx``; this package holds the Python they call
(text analytics, key-driver analysis) so that it runs and tests without dbt.
"""
