{{
    config(
        delta_mode='merge',
        unique_key='order_key',
    )
}}
-- Every order on every channel (web, app, store, POS) with the customer it belongs to: the omnichannel history.
-- Incremental (delta_mode merge): after the first build only the rows that differ from the last build's are written,
-- here and in the lake: new orders, re-sent ones (a later status) and orders whose record changed customer. They are
-- found by comparing whole rows, so no watermark can drift from the sources (a changed reporting currency or rate
-- rewrites every row it changes).

with orders as (
    select * from {{ ref('int_orders__unioned') }}
),

identity_map as (
    select * from {{ ref('int_identity__records') }}
),

final as (
    select
        orders.order_key,
        identity_map.customer_id,
        orders.source,
        orders.source_record_id,
        orders.channel,
        orders.store_id,
        orders.ordered_at,
        orders.status,
        orders.currency,
        orders.total_amount,
        orders.amount_reporting,
        '{{ var("reporting_currency") }}' as reporting_currency,
        orders.has_unknown_currency,
        orders.is_purchase,
        orders.is_refund,
        orders.promised_delivery_at,
        orders.delivered_at,
        orders.returned_store_id,
        orders.line_count,
        orders.categories
    from orders
    left join identity_map
        on identity_map.source = orders.source and identity_map.source_record_id = orders.source_record_id
)

{% if delta_is_incremental() %}
select * from final
except
select * from {{ this }}
{% else %}
select * from final
{% endif %}
