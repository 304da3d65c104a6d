{{
    config(
        materialized='incremental',
        unique_key='order_key',
        incremental_strategy='delete+insert',
    )
}}
-- Web, app and store orders and POS transactions as one append-only history, with money in the reporting currency.
-- Incremental: a run reads only bronze rows ingested since the last run (per source: one may have none yet).

with orders as (
    select * from {{ ref('stg_orders__orders') }}
    {% if is_incremental() %}
    where ingested_at > (
        select coalesce(max(ingested_at), '-infinity'::timestamptz) from {{ this }} where source = 'orders'
    )
    {% endif %}
    -- a re-sent order (a later status) supersedes the earlier row; across runs, unique_key replaces it
    qualify row_number() over (partition by order_id order by ingested_at desc, ordered_at desc) = 1
),

pos as (
    select * from {{ ref('stg_pos__transactions') }}
    {% if is_incremental() %}
    where ingested_at > (
        select coalesce(max(ingested_at), '-infinity'::timestamptz) from {{ this }} where source = 'pos_transactions'
    )
    {% endif %}
    qualify row_number() over (partition by transaction_id order by ingested_at desc) = 1
),

rates as (
    select * from {{ ref('currency_rates') }}
),

unioned as (
    select
        'orders' as source,
        order_id as source_record_id,
        channel,
        store_id,
        ordered_at,
        status,
        currency,
        total_amount,
        promised_delivery_at,
        delivered_at,
        returned_store_id,
        lines,
        ingested_at
    from orders
    union all
    select
        'pos_transactions' as source,
        transaction_id as source_record_id,
        'pos' as channel,
        store_id,
        occurred_at as ordered_at,
        case when amount > 0 then 'paid' else 'refunded' end as status,
        coalesce(currency, '{{ var("reporting_currency") }}') as currency,
        amount as total_amount,
        null as promised_delivery_at,
        null as delivered_at,
        null as returned_store_id,
        lines,
        ingested_at
    from pos
),

final as (
    select
        unioned.source || ':' || unioned.source_record_id as order_key,
        unioned.source,
        unioned.source_record_id,
        unioned.channel,
        unioned.store_id,
        unioned.ordered_at,
        unioned.status,
        unioned.currency,
        unioned.total_amount,
        cast(
            unioned.total_amount / rate.units_per_usd * reporting.units_per_usd as decimal(18, 2)
        ) as amount_reporting,
        rate.currency is null as has_unknown_currency,
        -- a purchase: a positive amount that was not cancelled, refunded or returned
        unioned.total_amount > 0
            and unioned.status not in ('cancelled', 'refunded', 'returned') as is_purchase,
        unioned.total_amount <= 0 or unioned.status in ('refunded', 'returned') as is_refund,
        unioned.promised_delivery_at,
        unioned.delivered_at,
        unioned.returned_store_id,
        coalesce(len(unioned.lines), 0) as line_count,
        list_distinct(list_filter([l.category for l in coalesce(unioned.lines, [])], c -> c is not null)) as categories,
        unioned.lines,
        unioned.ingested_at
    from unioned
    left join rates as rate on rate.currency = unioned.currency
    left join rates as reporting on reporting.currency = '{{ var("reporting_currency") }}'
)

select * from final
