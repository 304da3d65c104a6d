with source as (
    select * from {{ source('bronze', 'survey_responses') }}
),

renamed as (
    select
        response_id,
        survey_type,
        score,
        comment,
        customer_ref,
        email,
        phone,
        touchpoint,
        channel,
        store_id,
        responded_at,
        language,
        order_id,
        ticket_id,
        _ingested_at as ingested_at
    from source
    qualify row_number() over (partition by response_id order by _ingested_at desc) = 1
)

select * from renamed
