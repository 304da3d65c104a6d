-- Every value each source holds for each profile attribute, long form, for survivorship (customers.sql).
-- Emails and phones are the identifiers identity resolution normalised and used (E.164, folded), never raw text.
-- Only for the customers in this build's rebuild scope. Records are joined to their customer before they are
-- unpivoted: ten times fewer rows through the join.

with identity_map as (
    -- an inner join, not a semi join (the scope holds each customer once): DuckDB then estimates these records at
    -- their real size and builds the joins below on them, not on the 10.9M identifiers and 0.9M contacts of 1M
    -- customers (2.8 against 5.4-7.9 s of CPU at 1M with 1% of customers in scope)
    select records.source, records.source_record_id, records.customer_id
    from {{ ref('int_identity__records') }} as records
    inner join {{ ref('int_profile__rebuild_scope') }} as scope using (customer_id)
),

identifiers as (
    select * from {{ ref('stg_identity__identifiers') }}
    where identifier_type in ('email', 'phone')
),

contacts as (
    select identity_map.customer_id, c.* replace (cast(c.date_of_birth as varchar) as date_of_birth)
    from {{ ref('int_crm__contacts') }} as c
    inner join identity_map
        on identity_map.source = 'crm_contacts' and identity_map.source_record_id = c.contact_id
),

identify_traits as (
    select identity_map.customer_id, t.occurred_at, t.first_name, t.last_name
    from {{ ref('int_events__identify_traits') }} as t
    inner join identity_map
        on identity_map.source = 'events' and identity_map.source_record_id = t.message_id
),

contact_values as (
    select customer_id, attribute, value, 'crm_contacts' as source, updated_at as observed_at
    from contacts
    unpivot (
        value for attribute in (
            first_name, last_name, date_of_birth, gender,
            address_line1, address_line2, city, postcode, state, country
        )
    )
),

trait_values as (
    select customer_id, attribute, value, 'events' as source, occurred_at as observed_at
    from identify_traits
    unpivot (value for attribute in (first_name, last_name))
),

identifier_values as (
    select identity_map.customer_id, i.identifier_type as attribute, i.identifier as value, i.source, i.observed_at
    from identifiers as i
    inner join identity_map
        on identity_map.source = i.source and identity_map.source_record_id = i.source_record_id
),

final as (
    select * from contact_values
    union all
    select * from trait_values
    union all
    select * from identifier_values
)

select * from final where value is not null
