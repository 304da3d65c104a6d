with source as (
    select * from {{ source('bronze', 'events') }}
),

renamed as (
    select
        "messageId" as message_id,
        "type" as event_type,
        "event" as event_name,
        "name" as page_name,
        "anonymousId" as anonymous_id,
        "userId" as user_id,
        context_channel as channel,
        context_timezone as timezone,
        properties,
        traits,
        "timestamp" as occurred_at,
        _ingested_at as ingested_at
    from source
)

select * from renamed
