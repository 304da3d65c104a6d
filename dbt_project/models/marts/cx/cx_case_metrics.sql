-- The closed loop per ISO week (UTC) x queue x trigger, and per week over all queues (queue = trigger_name = 'all'):
-- cases opened and closed, time to close the loop (opened -> resolved, hours) for the cases closed that week, share
-- closed within the SLA, cases opened that week still open past their due time at as_of, and repeat detractors
-- (customers whose detractor answer that week followed another within cx_repeat_detractor_days).

with cases as (
    select * from {{ ref('cx_cases') }}
),

events as (
    select
        cast(date_trunc('week', timezone('UTC', opened_at)) as date) as week_start,
        'opened' as event,
        *
    from cases
    union all
    select
        cast(date_trunc('week', timezone('UTC', resolved_at)) as date) as week_start,
        'closed' as event,
        *
    from cases
    where status = 'resolved'
),

grouped as (
    select
        week_start,
        coalesce(queue, 'all') as queue,
        coalesce(trigger_name, 'all') as trigger_name,
        count(*) filter (where event = 'opened') as cases_opened,
        count(*) filter (where event = 'closed') as cases_closed,
        median(epoch(contacted_at - opened_at) / 3600.0) filter (where event = 'opened') as median_hours_to_contact,
        median(epoch(resolved_at - opened_at) / 3600.0) filter (where event = 'closed') as median_hours_to_close,
        quantile_cont(epoch(resolved_at - opened_at) / 3600.0, 0.9) filter (where event = 'closed')
            as p90_hours_to_close,
        avg(case when is_resolved_within_sla then 1.0 else 0.0 end) filter (where event = 'closed')
            as closed_within_sla_share,
        count(*) filter (where event = 'opened' and is_overdue) as overdue_open_cases,
        count(distinct customer_id) filter (where event = 'opened' and is_repeat_detractor) as repeat_detractors
    from events
    group by grouping sets ((week_start, queue, trigger_name), (week_start))
),

final as (
    select * from grouped
)

select * from final
