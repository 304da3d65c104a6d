-- Support service levels per week (UTC ISO week the ticket was opened) and ticket channel: volume, first-contact
-- resolution (FCR: resolved by as_of with contact_count = 1, over all tickets opened), wait (opened -> first
-- response) and resolution (opened -> resolved) times. A response or resolution after as_of has not happened yet;
-- a negative duration (a clock error in the source) is left out of the times.

with tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where opened_at <= {{ as_of() }}
),

measured as (
    select
        cast(date_trunc('week', timezone('UTC', opened_at)) as date) as week_start,
        channel,
        resolved_at <= {{ as_of() }} as is_resolved,
        resolved_at <= {{ as_of() }} and contact_count = 1 as is_first_contact_resolution,
        is_escalated_to_human,
        case
            when first_response_at <= {{ as_of() }} and first_response_at >= opened_at
                then (epoch(first_response_at) - epoch(opened_at)) / 60.0
        end as wait_minutes,
        case
            when resolved_at <= {{ as_of() }} and resolved_at >= opened_at
                then (epoch(resolved_at) - epoch(opened_at)) / 3600.0
        end as resolution_hours
    from tickets
),

final as (
    select
        week_start,
        channel,
        count(*) as tickets,
        count(*) filter (where is_resolved) as resolved_tickets,
        count(*) filter (where is_first_contact_resolution) as first_contact_resolutions,
        cast(count(*) filter (where is_first_contact_resolution) as double) / count(*) as first_contact_resolution_rate,
        count(*) filter (where is_escalated_to_human) as escalated_tickets,
        count(wait_minutes) as responded_tickets,
        quantile_cont(wait_minutes, 0.5) as median_wait_minutes,
        quantile_cont(wait_minutes, 0.9) as p90_wait_minutes,
        quantile_cont(resolution_hours, 0.5) as median_resolution_hours,
        quantile_cont(resolution_hours, 0.9) as p90_resolution_hours
    from measured
    group by week_start, channel
)

select * from final
