{{ config(materialized='table') }}
-- Per customer, purchases up to as_of: RFM inputs and the BTYD summary (periods of var('clv_time_unit_days')).
-- Incremental, kept from the last build's table: a build recomputes only the customers whose orders up to as_of can
-- differ from the last build's, and keeps the other rows (only btyd_t, the age of the first occasion at as_of, is
-- recomputed for every row). A customer is recomputed when it has an order ingested since the last build
-- (orders_ingested_to: int_orders__unioned's latest ingest then), an order placed between the last build's as_of and
-- this one's (either way: as_of may move back), or an order record that changed customer since the last build
-- (int_identity__record_changes: both the customer before and after, so merges, splits and erasures rebuild both).
-- Orders without a customer have no row (every reader wanted customers).
{#- a dbt unit test has no `this` and may reference only its given inputs (customer_orders) -#}
{%- set in_unit_test = this is none %}
{%- if not in_unit_test %}
-- depends_on: {{ ref('int_identity__record_changes') }}
-- depends_on: {{ ref('int_orders__unioned') }}
{%- endif %}
{%- set incremental = keeps_last_build() %}
{%- if incremental and execute %}
{#- a table from before these columns (an older build): computed in full once -#}
{%- set incremental = 'orders_ingested_to' in adapter.get_columns_in_relation(this) | map(attribute='name') | list %}
{%- endif %}

with ingested as (
    -- how far this build's orders were ingested: the next build recomputes the customers of any ingested later
    {% if in_unit_test -%}
    select null::timestamptz as orders_ingested_to
    {%- else -%}
    select max(ingested_at) as orders_ingested_to from {{ ref('int_orders__unioned') }}
    {%- endif %}
),

{% if incremental %}
last_build as (
    {{ last_build_window('orders_ingested_to') }}
),

scope as (
    {{ orders_rebuild_scope() }}
),
{% endif %}

orders as (
    select * from {{ ref('customer_orders') }}
    where ordered_at <= {{ as_of() }} and customer_id is not null
    {% if incremental %}
        and customer_id in (select customer_id from scope)
    {% endif %}
),

purchases as (
    select * from orders where is_purchase
),

purchase_days as (
    -- BTYD counts purchase occasions: several orders on one day are one occasion
    select
        customer_id,
        date_trunc('day', ordered_at) as purchase_day,
        sum(amount_reporting) as day_amount,
        row_number() over (partition by customer_id order by date_trunc('day', ordered_at)) as occasion_number
    from purchases
    group by customer_id, date_trunc('day', ordered_at)
),

occasions as (
    select
        customer_id,
        count(*) as occasions,
        min(purchase_day) as first_day,
        max(purchase_day) as last_day,
        -- Gamma-Gamma's spend is the mean of the repeat occasions (the first one excluded)
        avg(day_amount) filter (where occasion_number > 1) as repeat_mean_amount
    from purchase_days
    group by customer_id
),

per_customer as (
    select
        customer_id,
        count(*) filter (where is_purchase) as purchase_count,
        count(*) filter (where is_refund) as refund_count,
        coalesce(sum(amount_reporting) filter (where is_purchase), 0) as monetary_value,
        coalesce(sum(amount_reporting), 0) as net_amount,
        min(ordered_at) filter (where is_purchase) as first_purchase_at,
        max(ordered_at) filter (where is_purchase) as last_purchase_at,
        bool_or(has_unknown_currency) as has_unknown_currency
    from orders
    group by customer_id
),

computed as (
    select
        per_customer.*,
        occasions.occasions - 1 as btyd_frequency,
        {{ days_between('occasions.first_day', 'occasions.last_day') }} / {{ var('clv_time_unit_days') }} as btyd_recency,
        coalesce(occasions.repeat_mean_amount, 0) as btyd_monetary_value,
        occasions.first_day as btyd_first_day
    from per_customer
    left join occasions using (customer_id)
),

{% if incremental %}
kept as (
    select * exclude (btyd_t, counted_as_of, orders_ingested_to) from {{ this }}
    anti join scope using (customer_id)
),
{% endif %}

summaries as (
    select * from computed
    {% if incremental %}
    union all by name
    select * from kept
    {% endif %}
),

final as (
    select
        customer_id,
        purchase_count,
        refund_count,
        monetary_value,
        net_amount,
        first_purchase_at,
        last_purchase_at,
        has_unknown_currency,
        btyd_frequency,
        btyd_recency,
        {{ days_between('btyd_first_day', as_of()) }} / {{ var('clv_time_unit_days') }} as btyd_t,
        btyd_monetary_value,
        btyd_first_day,
        {{ as_of() }} as counted_as_of,
        ingested.orders_ingested_to
    from summaries, ingested
)

select * from final
