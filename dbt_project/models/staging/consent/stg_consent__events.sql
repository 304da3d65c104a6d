-- Every ingested copy of every consent event (a re-sent event has a row per ingest): the history (macro
-- keyed_history) keeps the latest copy per consent_id, deduplicating only the copies a build reads.
with source as (
    select * from {{ source('bronze', 'consent_events') }}
),

renamed as (
    select
        consent_id,
        purpose,
        channel,
        status,
        source as capture_source,
        policy_version,
        occurred_at,
        _ingested_at as ingested_at
    from source
)

select * from renamed
