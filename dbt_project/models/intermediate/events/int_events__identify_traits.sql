{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
    )
}}
-- Names people gave in identify calls, the only part of the (large, append-only) event stream the profile reads.
-- Incremental: a run reads only events ingested since the last run.

with events as (
    select * from {{ ref('stg_events__events') }}
    where event_type = 'identify' and traits is not null
    {% if is_incremental() %}
    and ingested_at > (select coalesce(max(ingested_at), '-infinity'::timestamptz) from {{ this }})
    {% endif %}
),

final as (
    select
        message_id,
        occurred_at,
        nullif(trim(json_extract_string(traits, '$.firstName')), '') as first_name,
        nullif(trim(json_extract_string(traits, '$.lastName')), '') as last_name,
        ingested_at
    from events
)

select * from final
