with source as (
    select * from {{ source('bronze', 'crm_contacts') }}
),

-- The CRM exports whole contacts again when they change: the latest updated_at wins.
latest as (
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
    qualify row_number() over (partition by contact_id order by updated_at desc, _ingested_at desc) = 1
)

select * from latest
