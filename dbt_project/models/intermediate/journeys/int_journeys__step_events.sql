{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
    )
}}
-- The funnel's track events, slimmed to what sessions need: the one pass over the (large, append-only) event stream.
-- Incremental: a run reads only events ingested since the last run. Steps come from var journey_funnel_steps.

with events as (
    select * from {{ ref('stg_events__events') }}
    where event_type = 'track'
        and event_name in (
            {%- for step in var('journey_funnel_steps') %}{% for name in step['events'] %}
            '{{ name }}'{{ ',' if not loop.last }}{% endfor %}{{ ',' if not loop.last }}{% endfor %}
        )
    {% if is_incremental() %}
        and ingested_at > (select coalesce(max(ingested_at), '-infinity'::timestamptz) from {{ this }})
    {% endif %}
),

final as (
    select
        message_id,
        -- a visitor is a browser cookie or app install (anonymousId); a message with only a userId is its own
        coalesce(anonymous_id, 'user:' || user_id) as visitor_key,
        coalesce(channel, 'unknown') as channel,
        occurred_at,
        case
            {%- for step in var('journey_funnel_steps') %}
            when event_name in ('{{ step["events"] | join("', '") }}') then {{ loop.index }}
            {%- endfor %}
        end as step_number,
        json_extract_string(properties, '$.order_id') as order_id,
        ingested_at
    from events
)

select * from final
