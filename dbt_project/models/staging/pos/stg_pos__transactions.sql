with source as (
    select * from {{ source('bronze', 'pos_transactions') }}
),

renamed as (
    select
        transaction_id,
        store_id,
        loyalty_card_id,
        phone,
        occurred_at,
        amount,
        currency,
        items as lines,
        _ingested_at as ingested_at
    from source
)

select * from renamed
