{{
    config(
        materialized='table',
    )
}}
-- The funnel's counts per week, channel and step: sessions that reached the step in order by as_of and their
-- distinct visitors (only combinations with a session). Incremental by week, kept from the last build's table: a
-- build recounts only the weeks holding a session re-sessionised since (one ingested after the counted
-- sessions_ingested_to) or a session time between the last build's as_of and this one's; the other weeks keep their
-- counts. A re-sessionised visitor's sessions it replaced started within the new sessions' spans, so the weeks those
-- spans cross are recounted too (a late event joining two sessions across a Monday empties the later week).
{%- set incremental = keeps_last_build() %}
{#- the UTC ISO week (its Monday) of a timestamp: computed only for the sessions a build reads (it is not cheap) #}
{%- set week_of = "cast(date_trunc('week', timezone('UTC', {})) as date)" %}

with ingested as (
    -- how far the sessions counted here were ingested: the next build recounts the weeks of any ingested later
    select max(last_ingested_at) as sessions_ingested_to from {{ ref('int_journeys__sessions') }}
),

{% if incremental %}
last_build as (
    {{ last_build_window('sessions_ingested_to') }}
),

changed_weeks as (
    select distinct unnest(
        range({{ week_of.format('started_at') }}, {{ week_of.format('ended_at') }} + 1, interval 7 day)
    )::date as week_start
    from {{ ref('int_journeys__sessions') }} as sessions, last_build
    where sessions.last_ingested_at > last_build.sessions_ingested_to
    union
    select {{ week_of.format('started_at') }}
    from {{ ref('int_journeys__sessions') }} as sessions, last_build
    where
        {%- for moment in ['started_at', 'viewed_at', 'carted_at', 'checkout_started_at', 'purchased_at'] %}
        ({{ moment }} > last_build.from_as_of and {{ moment }} <= last_build.to_as_of){{ ' or' if not loop.last }}
        {%- endfor %}
),

changed_spans as (
    select
        timezone('UTC', week_start::timestamp) as week_from,
        timezone('UTC', week_start::timestamp + interval 7 day) as week_to
    from changed_weeks
),

sessions as (
    -- the sessions of the changed weeks, found by start time
    select *, {{ week_of.format('started_at') }} as week_start
    from {{ ref('int_journeys__sessions') }} as sessions
    semi join changed_spans
        on sessions.started_at >= changed_spans.week_from and sessions.started_at < changed_spans.week_to
    where sessions.started_at <= {{ as_of() }}
),
{% else %}
sessions as (
    select *, {{ week_of.format('started_at') }} as week_start
    from {{ ref('int_journeys__sessions') }}
    where started_at <= {{ as_of() }}
),
{% endif %}

reached as (
    -- one row per session and step it reached in order (a purchase without a view is not a conversion from view)
    select
        sessions.week_start,
        sessions.channel,
        sessions.visitor_key,
        step_reached.step_number
    from sessions
    cross join lateral (
        select unnest([
            case when sessions.viewed_at <= {{ as_of() }} then 1 end,
            case when sessions.carted_at <= {{ as_of() }} then 2 end,
            case when sessions.checkout_started_at <= {{ as_of() }} then 3 end,
            case when sessions.purchased_at <= {{ as_of() }} then 4 end
        ]) as step_number
    ) as step_reached
    where step_reached.step_number is not null
),

counted as (
    select
        week_start,
        channel,
        step_number,
        count(*) as sessions,
        count(distinct visitor_key) as visitors
    from reached
    group by week_start, channel, step_number
),

final as (
    select
        counted.*,
        {{ as_of() }} as counted_as_of,
        (select sessions_ingested_to from ingested) as sessions_ingested_to
    from counted
    {% if incremental %}
    union all by name
    select * exclude (counted_as_of, sessions_ingested_to), {{ as_of() }} as counted_as_of,
        (select sessions_ingested_to from ingested) as sessions_ingested_to
    from {{ this }}
    where week_start not in (select week_start from changed_weeks)
    {% endif %}
)

select * from final
