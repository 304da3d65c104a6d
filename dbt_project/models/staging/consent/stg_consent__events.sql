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
    qualify row_number() over (partition by consent_id order by _ingested_at desc) = 1
)

select * from renamed
