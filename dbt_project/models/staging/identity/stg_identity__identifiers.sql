-- Normalised identifiers (E.164 phones, folded emails) that identity resolution used, per source record.
with source as (
    select * from {{ source('identity', 'identity_identifiers') }}
),

renamed as (
    select
        source,
        source_record_id,
        id_type as identifier_type,
        value as identifier,
        observed_at
    from source
    where status = 'used' and value is not null
)

select * from renamed
