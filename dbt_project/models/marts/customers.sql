-- The golden record: one row per customer_id, each attribute chosen by survivorship (seeds/survivorship_rules.csv:
-- source priority, then the most recent value, then the most frequent) and carrying the source it came from.

{% set attributes = ['first_name', 'last_name', 'email', 'phone', 'date_of_birth', 'gender',
                     'address_line1', 'address_line2', 'city', 'postcode', 'state', 'country'] %}

with identity_map as (
    select * from {{ ref('stg_identity__identity_map') }}
),

candidates as (
    select * from {{ ref('int_profile__attribute_candidates') }}
),

rules as (
    select * from {{ ref('survivorship_rules') }}
),

records as (
    select
        customer_id,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as source_records,
        list_sort(list_distinct(list(source))) as sources
    from identity_map
    where observed_at is null or observed_at <= {{ as_of() }}
    group by customer_id
),

scored as (
    select
        candidates.customer_id,
        candidates.attribute,
        candidates.value,
        candidates.source,
        coalesce(own.priority, fallback.priority, 999) as priority,
        max(candidates.observed_at) over (partition by candidates.customer_id, candidates.attribute, candidates.value)
            as value_last_seen_at,
        count(*) over (partition by candidates.customer_id, candidates.attribute, candidates.value) as value_count
    from candidates
    left join rules as own on own.attribute = candidates.attribute and own.source = candidates.source
    left join rules as fallback on fallback.attribute = '*' and fallback.source = candidates.source
),

survivors as (
    select customer_id, attribute, value, source
    from scored
    qualify row_number() over (
        partition by customer_id, attribute
        order by priority, value_last_seen_at desc nulls last, value_count desc, value
    ) = 1
),

pivoted as (
    select
        customer_id,
        {% for attribute in attributes %}
        max(value) filter (where attribute = '{{ attribute }}') as {{ attribute }},
        max(source) filter (where attribute = '{{ attribute }}') as {{ attribute }}_source{{ ',' if not loop.last }}
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
        records.sources
    from records
    left join pivoted using (customer_id)
)

select * from final
