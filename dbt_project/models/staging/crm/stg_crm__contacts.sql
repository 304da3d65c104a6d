with source as (
    select * from {{ source('bronze', 'crm_contacts') }}
),

-- Every ingested copy of every contact (the CRM exports whole contacts again when they change): int_crm__contacts
-- keeps the latest.
renamed as (
    select
        contact_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        email,
        phone,
        date_of_birth,
        gender,
        nullif(trim(address_line1), '') as address_line1,
        nullif(trim(address_line2), '') as address_line2,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        created_at,
        updated_at,
        _ingested_at as ingested_at
    from source
)

select * from renamed
