-- How many customers follow each cross-channel pattern (cross_channel_journeys, aggregated; no person rows).
-- Patterns overlap, except online_only / store_only / omnichannel, which split the buyers.

with journeys as (
    select * from {{ ref('cross_channel_journeys') }}
),

patterns as (
    select pattern, count(*) filter (where matches) as customers, count(*) as buyers
    from (
        select
            unnest([
                'online_only', 'store_only', 'omnichannel', 'online_then_store', 'store_then_online',
                'bought_online_returned_in_store', 'bought_online_serviced_in_store',
                'bought_online_returned_or_refunded'
            ]) as pattern,
            unnest([
                online_orders > 0 and store_orders = 0, store_orders > 0 and online_orders = 0, is_omnichannel,
                is_online_then_store, is_store_then_online, is_bought_online_returned_in_store,
                is_bought_online_serviced_in_store, is_bought_online_returned_or_refunded
            ]) as matches
        from journeys
    )
    group by pattern
),

final as (
    select pattern, customers, cast(customers as double) / nullif(buyers, 0) as share_of_buyers
    from patterns
)

select * from final
