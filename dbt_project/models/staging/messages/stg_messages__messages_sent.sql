-- Every ingested copy of every message (a re-sent message has a row per ingest): the history (macro keyed_history)
-- keeps the latest copy per message_id, and an incremental build dedups only the copies ingested since the last one,
-- whose ingest-time filter reaches the Delta scan (a dedup here read and grouped every copy ever ingested).
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
)

select * from renamed
