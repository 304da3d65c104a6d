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
),

-- A re-sent order (a later status) supersedes the earlier row.
latest as (
    select * from renamed
    qualify row_number() over (partition by order_id order by ingested_at desc, ordered_at desc) = 1
)

select * from latest
