{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        post_hook="delete from {{ this }} where customer_id in (select customer_id from {{ ref('int_profile__rebuild_scope') }})
            and customer_id not in (select customer_id from {{ ref('int_identity__customer_signatures') }})",
    )
}}
-- The golden record: one row per customer_id, each attribute chosen by survivorship (seeds/survivorship_rules.csv:
-- source priority, then the most recent value, then the most frequent) and carrying the source it came from.
-- Incremental: only the customers in int_profile__rebuild_scope are computed; ids of the scope identity retired
-- (no records left) are deleted.

{% set attributes = ['first_name', 'last_name', 'email', 'phone', 'date_of_birth', 'gender',
                     'address_line1', 'address_line2', 'city', 'postcode', 'state', 'country'] %}

with candidates as (
    select * from {{ ref('int_profile__attribute_candidates') }}
),

rules as (
    select * from {{ ref('survivorship_rules') }}
),

records as (
    select signatures.*
    from {{ ref('int_identity__customer_signatures') }} as signatures
    semi join {{ ref('int_profile__rebuild_scope') }} as scope using (customer_id)
),

-- Per customer, attribute and value: its best source priority, when it was last seen and how often (any source).
value_stats as (
    select
        candidates.customer_id,
        candidates.attribute,
        candidates.value,
        min(coalesce(own.priority, fallback.priority, 999)) as priority,
        arg_min(candidates.source, coalesce(own.priority, fallback.priority, 999)) as source,
        max(candidates.observed_at) as last_seen_at,
        count(*) as times_seen
    from candidates
    left join rules as own on own.attribute = candidates.attribute and own.source = candidates.source
    left join rules as fallback on fallback.attribute = '*' and fallback.source = candidates.source
    group by candidates.customer_id, candidates.attribute, candidates.value
),

-- The survivor: best priority, then the most recent, then the most frequent (then the smallest, to be stable).
survivors as (
    select
        customer_id,
        attribute,
        arg_min(
            {'value': value, 'source': source},
            (priority, -coalesce(epoch_us(last_seen_at), -9223372036854775807), -times_seen, value)
        ) as survivor
    from value_stats
    group by customer_id, attribute
),

pivoted as (
    select
        customer_id,
        {% for attribute in attributes %}
        max(survivor.value) filter (where attribute = '{{ attribute }}') as {{ attribute }},
        max(survivor.source) filter (where attribute = '{{ attribute }}') as {{ attribute }}_source{{ ',' if not loop.last }}
        {% endfor %}
    from survivors
    group by customer_id
),

final as (
    select
        records.customer_id,
        {% for attribute in attributes %}
        {% if attribute == 'date_of_birth' %}
        try_cast(pivoted.date_of_birth as date) as date_of_birth,
        {% else %}
        pivoted.{{ attribute }},
        {% endif %}
        pivoted.{{ attribute }}_source,
        {% endfor %}
        records.first_seen_at,
        records.last_seen_at,
        records.source_records,
        records.sources,
        records.records_signature,
        -- the CRM watermark of this build: contacts ingested after it are re-read by the next one
        (select max(ingested_at) from {{ ref('int_crm__contacts') }}) as crm_ingested_until
    from records
    left join pivoted using (customer_id)
)

select * from final
