with source as (
    select * from {{ source('bronze', 'messages_sent') }}
),

renamed as (
    select
        message_id,
        campaign_id,
        channel,
        purpose,
        sent_at,
        _ingested_at as ingested_at
    from source
    qualify row_number() over (partition by message_id order by _ingested_at desc) = 1
)

select * from renamed
