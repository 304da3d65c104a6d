-- Per customer who ordered by as_of, how their buying crosses channels: online (web/app) and in store (store
-- orders and POS), which came first, online orders brought back to a store (returned_store_id) or serviced in a
-- store (a ticket at a store about the order), and online returns/refunds anywhere. Flags overlap; journey_pattern
-- is the single most notable one (the order of the case below).

with orders as (
    select * from {{ ref('customer_orders') }}
    where customer_id is not null and ordered_at <= {{ as_of() }}
        -- an order that was placed: positive and not cancelled (returned and refunded orders were bought)
        and total_amount > 0 and status <> 'cancelled'
),

identity_map as (
    select source_record_id, customer_id from {{ ref('int_identity__records') }}
    where source = 'support_tickets'
),

tickets as (
    select tickets.ticket_id, tickets.channel, tickets.order_id, identity_map.customer_id
    from {{ ref('stg_support__tickets') }} as tickets
    left join identity_map on identity_map.source_record_id = tickets.ticket_id
    where tickets.opened_at <= {{ as_of() }}
),

store_serviced_orders as (
    select distinct order_id from tickets where channel = 'store' and order_id is not null
),

classified as (
    select
        orders.customer_id,
        orders.ordered_at,
        orders.channel in ('web', 'app') as is_online,
        orders.channel in ('web', 'app') and orders.returned_store_id is not null as is_returned_in_store,
        orders.channel in ('web', 'app') and orders.status in ('returned', 'refunded') as is_returned_or_refunded,
        orders.channel in ('web', 'app') and store_serviced_orders.order_id is not null as is_serviced_in_store
    from orders
    left join store_serviced_orders
        on orders.source = 'orders' and store_serviced_orders.order_id = orders.source_record_id
),

per_customer as (
    select
        customer_id,
        count(*) filter (where is_online) as online_orders,
        count(*) filter (where not is_online) as store_orders,
        min(ordered_at) filter (where is_online) as first_online_order_at,
        max(ordered_at) filter (where is_online) as last_online_order_at,
        min(ordered_at) filter (where not is_online) as first_store_order_at,
        max(ordered_at) filter (where not is_online) as last_store_order_at,
        count(*) filter (where is_returned_in_store) as online_orders_returned_in_store,
        count(*) filter (where is_serviced_in_store) as online_orders_serviced_in_store,
        count(*) filter (where is_returned_or_refunded) as online_orders_returned_or_refunded
    from classified
    group by customer_id
),

store_tickets as (
    select customer_id, count(*) as store_tickets
    from tickets
    where channel = 'store' and customer_id is not null
    group by customer_id
),

flagged as (
    select
        per_customer.*,
        coalesce(store_tickets.store_tickets, 0) as store_tickets,
        per_customer.online_orders > 0 and per_customer.store_orders > 0 as is_omnichannel,
        coalesce(per_customer.first_online_order_at < per_customer.last_store_order_at, false) as is_online_then_store,
        coalesce(per_customer.first_store_order_at < per_customer.last_online_order_at, false) as is_store_then_online,
        per_customer.online_orders_returned_in_store > 0 as is_bought_online_returned_in_store,
        per_customer.online_orders_serviced_in_store > 0 as is_bought_online_serviced_in_store,
        per_customer.online_orders_returned_or_refunded > 0 as is_bought_online_returned_or_refunded
    from per_customer
    left join store_tickets using (customer_id)
),

final as (
    select
        customer_id,
        case
            when is_bought_online_returned_in_store then 'bought_online_returned_in_store'
            when is_bought_online_serviced_in_store then 'bought_online_serviced_in_store'
            when is_online_then_store and is_store_then_online then 'alternating'
            when is_online_then_store then 'online_then_store'
            when is_store_then_online then 'store_then_online'
            when online_orders > 0 and store_orders = 0 then 'online_only'
            else 'store_only'
        end as journey_pattern,
        online_orders,
        store_orders,
        first_online_order_at,
        first_store_order_at,
        online_orders_returned_in_store,
        online_orders_serviced_in_store,
        online_orders_returned_or_refunded,
        store_tickets,
        is_omnichannel,
        is_online_then_store,
        is_store_then_online,
        is_bought_online_returned_in_store,
        is_bought_online_serviced_in_store,
        is_bought_online_returned_or_refunded
    from flagged
)

select * from final
