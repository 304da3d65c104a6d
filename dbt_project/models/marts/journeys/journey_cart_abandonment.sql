-- Cart abandonment per week and channel: a cart (a session that reached the cart step after a view) is abandoned
-- when the same person made no purchase (Order Completed, any session or channel) from the cart time to
-- var journey_cart_abandonment_hours later. The person is the stitched customer_id (identity map, through the
-- session's first event) or, for a visitor never stitched, the visitor. Carts whose window has not yet passed at
-- as_of are pending: counted, but not in the rate.

with sessions as (
    select * from {{ ref('int_journeys__sessions') }}
    where started_at <= {{ as_of() }}
),

identity_map as (
    select source_record_id, customer_id from {{ ref('int_identity__records') }}
    where source = 'events'
),

people as (
    select
        sessions.*,
        coalesce(identity_map.customer_id, 'visitor:' || sessions.visitor_key) as person_key
    from sessions
    left join identity_map on identity_map.source_record_id = sessions.first_message_id
),

carts as (
    select session_id, person_key, channel, carted_at
    from people
    where carted_at <= {{ as_of() }}
),

purchases as (
    select person_key, unnest(purchase_times) as purchased_at
    from people
    where len(purchase_times) > 0
),

recovered as (
    -- the person's first purchase at or after the cart
    select carts.*, purchases.purchased_at as next_purchase_at
    from carts
    asof left join purchases
        on purchases.person_key = carts.person_key and purchases.purchased_at >= carts.carted_at
),

classified as (
    select
        cast(date_trunc('week', timezone('UTC', carted_at)) as date) as week_start,
        channel,
        carted_at + interval ({{ var('journey_cart_abandonment_hours') }}) hour > {{ as_of() }} as is_pending,
        next_purchase_at <= carted_at + interval ({{ var('journey_cart_abandonment_hours') }}) hour as is_recovered
    from recovered
),

final as (
    select
        week_start,
        channel,
        count(*) as carts,
        count(*) filter (where is_pending) as pending_carts,
        count(*) filter (where not is_pending) as decided_carts,
        count(*) filter (where not is_pending and coalesce(is_recovered, false)) as purchased_carts,
        count(*) filter (where not is_pending and not coalesce(is_recovered, false)) as abandoned_carts,
        cast(count(*) filter (where not is_pending and not coalesce(is_recovered, false)) as double)
            / nullif(count(*) filter (where not is_pending), 0) as abandonment_rate,
        cast({{ var('journey_cart_abandonment_hours') }} as integer) as abandonment_window_hours
    from classified
    group by week_start, channel
)

select * from final
