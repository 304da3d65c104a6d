-- Per customer, the channel, store and category they buy most (ties: the most recent).

with purchases as (
    select * from {{ ref('customer_orders') }}
    where is_purchase and ordered_at <= {{ as_of() }}
),

channel_counts as (
    select customer_id, channel as value, count(*) as n, max(ordered_at) as last_at
    from purchases group by all
),

store_counts as (
    select customer_id, store_id as value, count(*) as n, max(ordered_at) as last_at
    from purchases where store_id is not null group by all
),

category_counts as (
    select customer_id, category as value, count(*) as n, max(ordered_at) as last_at
    from purchases, unnest(categories) as c(category)
    group by all
),

ranked as (
    select 'channel' as preference, * from channel_counts
    union all
    select 'store' as preference, * from store_counts
    union all
    select 'category' as preference, * from category_counts
    qualify row_number() over (partition by preference, customer_id order by n desc, last_at desc, value) = 1
),

final as (
    select
        customer_id,
        max(value) filter (where preference = 'channel') as preferred_channel,
        max(value) filter (where preference = 'store') as preferred_store_id,
        max(value) filter (where preference = 'category') as preferred_category
    from ranked
    group by customer_id
)

select * from final
