{{
    config(
        materialized='incremental',
        unique_key='consent_id',
        incremental_strategy='delete+insert',
    )
}}
-- Every consent event resolved to its customer: the whole consent history, kept in dbt's DuckDB database between
-- builds (read by customer_consent_history, customer_consent_ranges and int_consent__latest). Incremental as
-- int_contacts__messages (macro keyed_history). Late or out-of-order events need nothing more: the readers pick by
-- occurred_at.

{{ keyed_history(
    ref('stg_consent__events'), 'consent_events', 'consent_id',
    ['purpose', 'channel', 'status', "status = 'granted' as is_granted", 'occurred_at', 'consent_id',
     'capture_source', 'policy_version']
) }}
