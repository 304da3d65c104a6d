{{
    config(
        materialized='incremental',
        unique_key='consent_id',
        incremental_strategy='delete+insert',
    )
}}
-- Every consent event resolved to its customer: the whole consent history, kept in dbt's DuckDB database between
-- builds (read by customer_consent_history, customer_consent_ranges and int_consent__latest). Incremental as
-- int_contacts__messages: a build keys only the events ingested since the last one and those whose identity record
-- was (re)assigned since. Late or out-of-order events need nothing more: the readers pick by occurred_at.

with identity_map as (
    select source_record_id, customer_id, assigned_at
    from {{ ref('int_identity__records') }}
    where source = 'consent_events'
),

events as (
    select * from {{ ref('stg_consent__events') }}
),

{% if is_incremental() %}
last_build as (
    select
        coalesce(max(ingested_at), '-infinity'::timestamptz) as ingested_at,
        coalesce(max(assigned_at), '-infinity'::timestamptz) as assigned_at
    from {{ this }}
),

new_rows as (
    select events.*
    from events, last_build
    where events.ingested_at > last_build.ingested_at
),

rekeyed as (
    -- a record without assigned_at (a map written before it existed) is re-keyed every build: slow, never wrong
    select identity_map.source_record_id
    from identity_map, last_build
    where identity_map.assigned_at > last_build.assigned_at or identity_map.assigned_at is null
),

-- The new rows, then the re-keyed ones not among them: reading these first, not joining every row to the identity
-- map and then filtering (1.2-1.7 s against 0.6 s of CPU at 900k messages with nothing new).
changed as (
    select * from new_rows
    union all
    select * from events
    where consent_id in (select source_record_id from rekeyed)
        and consent_id not in (select consent_id from new_rows where consent_id is not null)
),
{% else %}
changed as (
    select * from events
),
{% endif %}

final as (
    select
        identity_map.customer_id,
        events.purpose,
        events.channel,
        events.status,
        events.status = 'granted' as is_granted,
        events.occurred_at,
        events.consent_id,
        events.capture_source,
        events.policy_version,
        events.ingested_at,
        identity_map.assigned_at,
        {{ build_started_at() }} as keyed_at,
        {% if is_incremental() %}previous.ingested_at{% else %}null::timestamptz{% endif %} as previous_ingested_at
    from changed as events
    inner join identity_map on identity_map.source_record_id = events.consent_id
    {% if is_incremental() %}
    left join {{ this }} as previous on previous.consent_id = events.consent_id
    {% endif %}
)

select * from final
