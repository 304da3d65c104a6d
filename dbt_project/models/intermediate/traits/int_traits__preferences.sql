-- Per customer, the channel, store and category they buy most (ties: the most recent), from orders up to as_of.
-- Kept from the last build's table like int_traits__purchases: a build recomputes only the customers whose orders up
-- to as_of can differ from the last build's (orders_rebuild_scope: placed between the two as_of values, ingested
-- since, or re-keyed in the identity map) and keeps the other rows (at 1M customers the full recompute cost about
-- 1.8 s of CPU every build for ~1% changed customers). Orders without a customer have no row (customer_traits joins
-- by customer).
-- depends_on: {{ ref('int_identity__record_changes') }}
-- depends_on: {{ ref('int_orders__unioned') }}
{%- set incremental = keeps_last_build() %}
{%- if incremental and execute %}
{#- a table from before these columns (an older build): computed in full once -#}
{%- set incremental = 'orders_ingested_to' in adapter.get_columns_in_relation(this) | map(attribute='name') | list %}
{%- endif %}

with ingested as (
    -- how far this build's orders were ingested: the next build recomputes the customers of any ingested later
    select max(ingested_at) as orders_ingested_to from {{ ref('int_orders__unioned') }}
),

{% if incremental %}
last_build as (
    {{ last_build_window('orders_ingested_to') }}
),

scope as (
    {{ orders_rebuild_scope() }}
),
{% endif %}

purchases as (
    select * from {{ ref('customer_orders') }}
    where is_purchase and ordered_at <= {{ as_of() }} and customer_id is not null
    {% if incremental %}
        and customer_id in (select customer_id from scope)
    {% endif %}
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
    -- the union in a subquery: a qualify after the last union branch filters only that branch (before, channel and
    -- store kept every value and max() below picked the alphabetically last)
    select * from (
        select 'channel' as preference, * from channel_counts
        union all
        select 'store' as preference, * from store_counts
        union all
        select 'category' as preference, * from category_counts
    )
    qualify row_number() over (partition by preference, customer_id order by n desc, last_at desc, value) = 1
),

computed as (
    select
        customer_id,
        max(value) filter (where preference = 'channel') as preferred_channel,
        max(value) filter (where preference = 'store') as preferred_store_id,
        max(value) filter (where preference = 'category') as preferred_category
    from ranked
    group by customer_id
),

{% if incremental %}
kept as (
    select * exclude (counted_as_of, orders_ingested_to) from {{ this }}
    anti join scope using (customer_id)
),
{% endif %}

preferences as (
    select * from computed
    {% if incremental %}
    union all by name
    select * from kept
    {% endif %}
),

final as (
    select
        preferences.customer_id,
        preferences.preferred_channel,
        preferences.preferred_store_id,
        preferences.preferred_category,
        {{ as_of() }} as counted_as_of,
        ingested.orders_ingested_to
    from preferences, ingested
)

select * from final
