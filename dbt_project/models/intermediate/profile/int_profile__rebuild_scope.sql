-- The customers whose golden record this build must (re)compute: all of them on the first build or a full refresh;
-- afterwards the customers of the records that changed since the last build (int_identity__record_changes: new,
-- re-assigned or gone records, both the customer before and after, so merges and splits rebuild both sides) and
-- those whose CRM contact was re-exported since the last build.
-- The last build is read by name, not ref(), so it is state, not a dependency (no cycle in the DAG).
-- depends_on: {{ ref('int_crm__contacts') }}
-- depends_on: {{ ref('int_identity__record_changes') }}
-- depends_on: {{ ref('int_identity__records') }}

{% set previous = adapter.get_relation(this.database, this.schema, 'int_profile__golden_records') %}

{% if previous is not none and not flags.FULL_REFRESH %}
with changes as (
    select * from {{ ref('int_identity__record_changes') }}
    where previous_customer_id is distinct from customer_id or previous_observed_at is distinct from observed_at
),

records_changed as (
    select customer_id from changes where customer_id is not null
    union
    select previous_customer_id as customer_id from changes where previous_customer_id is not null
),

contacts_reexported as (
    select records.customer_id
    from {{ ref('int_identity__records') }} as records
    inner join {{ ref('int_crm__contacts') }} as contacts
        on records.source = 'crm_contacts' and records.source_record_id = contacts.contact_id
    where contacts.ingested_at > (
        select coalesce(max(crm_ingested_until), '-infinity'::timestamptz) from {{ previous }}
    )
),

final as (
    select customer_id from records_changed
    union
    select customer_id from contacts_reexported
)
{% else %}
with final as (
    select distinct customer_id from {{ ref('int_identity__records') }}
)
{% endif %}

select * from final
