{{
    config(
        materialized='incremental',
        unique_key='visitor_key',
        incremental_strategy='delete+insert',
    )
}}
-- Funnel sessions: a visitor's funnel events with no gap longer than var journey_session_gap_minutes, and when the
-- session reached each step IN ORDER (a cart counts only after a view, a checkout only after that cart, a purchase
-- only after that checkout). Incremental: only visitors with newly ingested events are re-sessionised, whole, so a
-- late event (an app flushing hours later) lands in the right session.

with step_events as (
    select * from {{ ref('int_journeys__step_events') }}
),

{% if is_incremental() %}
changed_visitors as (
    select distinct visitor_key from step_events
    where ingested_at > (select coalesce(max(last_ingested_at), '-infinity'::timestamptz) from {{ this }})
),
{% endif %}

events as (
    select * from step_events
    {% if is_incremental() %}
    where visitor_key in (select visitor_key from changed_visitors)
    {% endif %}
),

marked as (
    select
        *,
        coalesce(
            occurred_at - lag(occurred_at) over by_visitor > interval ({{ var('journey_session_gap_minutes') }}) minute,
            true
        ) as is_session_start
    from events
    window by_visitor as (partition by visitor_key order by occurred_at, message_id)
),

numbered as (
    select
        *,
        sum(is_session_start::int) over (
            partition by visitor_key order by occurred_at, message_id rows unbounded preceding
        ) as session_number
    from marked
),

grouped as (
    select
        visitor_key,
        session_number,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        arg_min(channel, occurred_at) as channel,
        arg_min(message_id, occurred_at) as first_message_id,
        count(*) as step_events,
        coalesce(list(occurred_at order by occurred_at) filter (where step_number = 1), []) as view_times,
        coalesce(list(occurred_at order by occurred_at) filter (where step_number = 2), []) as cart_times,
        coalesce(list(occurred_at order by occurred_at) filter (where step_number = 3), []) as checkout_times,
        coalesce(list(occurred_at order by occurred_at) filter (where step_number = 4), []) as purchase_times,
        arg_min(order_id, occurred_at) filter (where step_number = 4) as order_id,
        max(ingested_at) as last_ingested_at
    from numbered
    group by visitor_key, session_number
),

viewed as (
    select *, list_min(view_times) as viewed_at from grouped
),

carted as (
    select *, list_min(list_filter(cart_times, t -> t >= viewed_at)) as carted_at from viewed
),

checked_out as (
    select *, list_min(list_filter(checkout_times, t -> t >= carted_at)) as checkout_started_at from carted
),

purchased as (
    select *, list_min(list_filter(purchase_times, t -> t >= checkout_started_at)) as purchased_at from checked_out
),

final as (
    select
        visitor_key || ':' || epoch_ms(started_at) as session_id,
        visitor_key,
        session_number,
        channel,
        first_message_id,
        started_at,
        ended_at,
        step_events,
        viewed_at,
        carted_at,
        checkout_started_at,
        purchased_at,
        -- every Order Completed in the session, in order or not (a cart is recovered by any later purchase)
        purchase_times,
        order_id,
        last_ingested_at
    from purchased
)

select * from final
