with source as (
    select * from {{ source('bronze', 'orders') }}
),

renamed as (
    select
        order_id,
        customer_ref,
        email,
        phone,
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
        _ingested_at as ingested_at
    from source
)

-- No deduplication here: int_orders__unioned keeps the latest row per order (a re-sent order, a later status)
-- and reads only new rows, which a window over the whole table would prevent.
select * from renamed
