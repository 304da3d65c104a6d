-- How long buying takes: minutes from a session's first product view to its in-order purchase, per week (the
-- session's start, UTC ISO week) and channel; only purchases up to as_of.

with sessions as (
    select * from {{ ref('int_journeys__sessions') }}
    where purchased_at <= {{ as_of() }}
),

durations as (
    select
        cast(date_trunc('week', timezone('UTC', started_at)) as date) as week_start,
        channel,
        (epoch(purchased_at) - epoch(viewed_at)) / 60.0 as minutes_to_purchase
    from sessions
),

final as (
    select
        week_start,
        channel,
        count(*) as purchases,
        quantile_cont(minutes_to_purchase, 0.5) as median_minutes,
        quantile_cont(minutes_to_purchase, 0.75) as p75_minutes,
        quantile_cont(minutes_to_purchase, 0.9) as p90_minutes,
        avg(minutes_to_purchase) as mean_minutes
    from durations
    group by week_start, channel
)

select * from final
