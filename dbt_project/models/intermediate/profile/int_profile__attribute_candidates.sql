-- Every value each source holds for each profile attribute, long form, for survivorship (customers.sql).
-- Emails and phones are the identifiers identity resolution normalised and used (E.164, folded), never raw text.

with identity_map as (
    select * from {{ ref('stg_identity__identity_map') }}
),

identifiers as (
    select * from {{ ref('stg_identity__identifiers') }}
),

contacts as (
    select * replace (cast(date_of_birth as varchar) as date_of_birth) from {{ ref('stg_crm__contacts') }}
),

identify_traits as (
    select message_id, occurred_at, first_name, last_name from {{ ref('int_events__identify_traits') }}
),

contact_values as (
    select 'crm_contacts' as source, contact_id as source_record_id, updated_at as observed_at, attribute, value
    from contacts
    unpivot (
        value for attribute in (
            first_name, last_name, date_of_birth, gender,
            address_line1, address_line2, city, postcode, state, country
        )
    )
),

trait_values as (
    select 'events' as source, message_id as source_record_id, occurred_at as observed_at, attribute, value
    from identify_traits
    unpivot (value for attribute in (first_name, last_name))
),

identifier_values as (
    select source, source_record_id, observed_at, identifier_type as attribute, identifier as value
    from identifiers
    where identifier_type in ('email', 'phone')
),

candidates as (
    select * from contact_values
    union all
    select * from trait_values
    union all
    select * from identifier_values
),

final as (
    select
        identity_map.customer_id,
        candidates.attribute,
        candidates.value,
        candidates.source,
        candidates.source_record_id,
        candidates.observed_at
    from candidates
    inner join identity_map
        on identity_map.source = candidates.source
        and identity_map.source_record_id = candidates.source_record_id
    where candidates.value is not null
        and (candidates.observed_at is null or candidates.observed_at <= {{ as_of() }})
)

select * from final
