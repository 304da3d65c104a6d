-- The web/app purchase funnel per week, channel and step: sessions (and visitors) that reached each step in order,
-- conversion from the previous step and from the top, and the drop-off. A session's week is the UTC ISO week
-- (Monday) it started in; a step reached after as_of does not count yet. The counts are kept per week between builds
-- (int_journeys__funnel_counts); this adds the steps nobody reached and the rates.

with counted as (
    select week_start, channel, step_number, sessions, visitors from {{ ref('int_journeys__funnel_counts') }}
),

steps as (
    {%- for step in var('journey_funnel_steps') %}
    select {{ loop.index }} as step_number, '{{ step["step"] }}' as step
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

grid as (
    -- every step for every week and channel that has a session, so a step nobody reached shows 0
    select weeks.week_start, weeks.channel, steps.step_number, steps.step
    from (select distinct week_start, channel from counted) as weeks
    cross join steps
),

filled as (
    select
        grid.week_start,
        grid.channel,
        grid.step_number,
        grid.step,
        coalesce(counted.sessions, 0) as sessions,
        coalesce(counted.visitors, 0) as visitors
    from grid
    left join counted using (week_start, channel, step_number)
),

final as (
    select
        week_start,
        channel,
        step,
        cast(step_number as integer) as step_number,
        sessions,
        visitors,
        cast(sessions as double)
            / nullif(lag(sessions) over funnel, 0) as conversion_from_previous,
        cast(sessions as double) / nullif(first_value(sessions) over funnel, 0) as conversion_from_top,
        coalesce(lag(sessions) over funnel - sessions, 0) as drop_off_sessions,
        1 - cast(sessions as double) / nullif(lag(sessions) over funnel, 0) as drop_off_rate
    from filled
    window funnel as (partition by week_start, channel order by step_number)
)

select * from final
