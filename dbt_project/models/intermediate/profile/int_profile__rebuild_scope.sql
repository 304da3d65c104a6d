-- The customers whose golden record this build must (re)compute: all of them on the first build or a full refresh;
-- afterwards those whose records changed (signature) or whose CRM contact was re-exported since the last build.
-- The last build is read by name, not ref(), so it is state, not a dependency (no cycle in the DAG).
-- depends_on: {{ ref('int_identity__records') }}
-- depends_on: {{ ref('stg_crm__contacts') }}

{% set previous = adapter.get_relation(this.database, this.schema, 'int_profile__golden_records') %}

with signatures as (
    select customer_id, records_signature from {{ ref('int_identity__customer_signatures') }}
),

{% if previous is not none and not flags.FULL_REFRESH %}
last_build as (
    select customer_id, records_signature, crm_ingested_until from {{ previous }}
),

records_changed as (
    select customer_id from signatures
    anti join last_build using (customer_id, records_signature)
),

contacts_reexported as (
    select records.customer_id
    from {{ ref('int_identity__records') }} as records
    inner join {{ ref('stg_crm__contacts') }} as contacts
        on records.source = 'crm_contacts' and records.source_record_id = contacts.contact_id
    where contacts.ingested_at > (select coalesce(max(crm_ingested_until), '-infinity'::timestamptz) from last_build)
),

final as (
    select customer_id from records_changed
    union
    select customer_id from contacts_reexported
)
{% else %}
final as (
    select customer_id from signatures
)
{% endif %}

select * from final
