with source as (
    select * from {{ source('identity', 'identity_map') }}
),

renamed as (
    select
        customer_id,
        source,
        source_record_id,
        matched_by,
        match_probability,
        observed_at,
        assigned_at
    from source
)

select * from renamed
