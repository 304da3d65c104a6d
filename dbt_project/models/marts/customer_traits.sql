-- One row per customer: what we know as of as_of. Definitions: README "Trait definitions".
-- Recomputed in full every build (as_of moves): written straight to the lake, and read back from there by the
-- audiences and the trait history (delta_lake_view), not stored a second time in DuckDB.
{{ config(delta_lake_view=true) }}

with customers as (
    select * from {{ ref('customers') }}
),

purchases as (
    select * from {{ ref('int_traits__purchases') }} where customer_id is not null
),

preferences as (
    select * from {{ ref('int_traits__preferences') }}
),

clv as (
    select * from {{ ref('customer_clv') }}
),

cx as (
    select * from {{ ref('int_traits__cx_scores') }}
),

consents as (
    select * from {{ ref('int_consent__latest') }}
),

pressure as (
    select * from {{ ref('int_traits__contact_pressure') }}
),

segments as (
    select * from {{ ref('rfm_segments') }}
),

rfm as (
    select
        customer_id,
        {{ days_between('last_purchase_at', as_of()) }} as recency_days,
        purchase_count as frequency,
        monetary_value,
        -- scores 1-5 by rank among buyers; ties share a score (percent_rank), recent = high
        least(5, 1 + floor(percent_rank() over (order by last_purchase_at) * 5))::integer as r_score,
        least(5, 1 + floor(percent_rank() over (order by purchase_count) * 5))::integer as f_score,
        least(5, 1 + floor(percent_rank() over (order by monetary_value) * 5))::integer as m_score
    from purchases
    where purchase_count > 0
),

rfm_named as (
    select
        rfm.*,
        (
            select segments.segment from segments
            where rfm.r_score between segments.r_min and segments.r_max
                and rfm.f_score between segments.f_min and segments.f_max
            order by segments.rank
            limit 1
        ) as value_segment
    from rfm
),

-- One bit per purpose x channel in force and granted, in one aggregate (twenty filtered bool_or aggregates over every
-- consent in force took three times the CPU at 1M customers). A combination with no event, or one outside the
-- configured lists, sets no bit: false, as before.
{% set purposes = var('consent_purposes') %}{% set channels = var('consent_channels') %}
{% if purposes | length * channels | length > 63 %}
{{ exceptions.raise_compiler_error('customer_traits: more consent purposes x channels than bits in a bigint (63)') }}
{% endif %}
consent_masks as (
    select
        customer_id,
        bit_or(
            is_granted::bigint << (
                (list_position({{ purposes }}, purpose) - 1) * {{ channels | length }}
                + list_position({{ channels }}, channel) - 1
            )
        ) as granted_mask
    from consents
    group by customer_id
),

consent_flags as (
    select
        customer_id,
        {% for purpose in purposes %}{% set p = loop.index0 %}{% for channel in channels %}
        (granted_mask >> {{ p * (channels | length) + loop.index0 }}) & 1 = 1 as consent_{{ purpose }}_{{ channel }}{{ ',' if not loop.last }}
        {% endfor %}{{ ',' if not loop.last }}{% endfor %}
    from consent_masks
),

final as (
    select
        customers.customer_id,
        {{ as_of() }} as as_of,
        -- value
        rfm_named.recency_days,
        coalesce(purchases.purchase_count, 0) as frequency,
        cast(coalesce(purchases.monetary_value, 0) as decimal(18, 2)) as monetary_value,
        cast(coalesce(purchases.net_amount, 0) as decimal(18, 2)) as net_amount,
        coalesce(purchases.refund_count, 0) as refund_count,
        rfm_named.r_score,
        rfm_named.f_score,
        rfm_named.m_score,
        rfm_named.r_score::varchar || rfm_named.f_score::varchar || rfm_named.m_score::varchar as rfm_score,
        coalesce(rfm_named.value_segment, 'prospect') as value_segment,
        purchases.first_purchase_at,
        purchases.last_purchase_at,
        customers.first_seen_at,
        greatest({{ days_between('least(customers.first_seen_at, purchases.first_purchase_at)', as_of()) }}, 0)
            as tenure_days,
        preferences.preferred_channel,
        preferences.preferred_store_id,
        preferences.preferred_category,
        case
            when customers.date_of_birth is null then 'unknown'
            when date_diff('year', customers.date_of_birth, {{ as_of() }}::date) < 18 then 'under_18'
            when date_diff('year', customers.date_of_birth, {{ as_of() }}::date) < 25 then '18_24'
            when date_diff('year', customers.date_of_birth, {{ as_of() }}::date) < 35 then '25_34'
            when date_diff('year', customers.date_of_birth, {{ as_of() }}::date) < 45 then '35_44'
            when date_diff('year', customers.date_of_birth, {{ as_of() }}::date) < 55 then '45_54'
            when date_diff('year', customers.date_of_birth, {{ as_of() }}::date) < 65 then '55_64'
            else '65_plus'
        end as age_band,
        customers.gender,
        -- lifetime value (BG/NBD + Gamma-Gamma); null for people who never bought
        clv.p_alive,
        clv.expected_purchases_90d,
        clv.expected_purchases_365d,
        clv.expected_value_365d,
        1 - clv.p_alive as churn_risk,
        case
            when clv.p_alive is null then 'unknown'
            when 1 - clv.p_alive >= {{ var('churn_risk_high') }} then 'high'
            when 1 - clv.p_alive >= {{ var('churn_risk_medium') }} then 'medium'
            else 'low'
        end as churn_risk_band,
        -- customer experience
        cx.latest_nps,
        cx.nps_category,
        coalesce(cx.is_recent_detractor, false) as is_recent_detractor,
        cx.avg_csat,
        cx.avg_ces,
        coalesce(cx.open_cases, 0) as open_cases,
        cx.last_contact_at,
        -- consent in force (no event = false)
        {% for purpose in var('consent_purposes') %}{% for channel in var('consent_channels') %}
        coalesce(consent_flags.consent_{{ purpose }}_{{ channel }}, false) as consent_{{ purpose }}_{{ channel }},
        {% endfor %}{% endfor %}
        -- contact pressure
        {% for channel in var('consent_channels') %}
        coalesce(pressure.messages_{{ channel }}_7d, 0) as messages_{{ channel }}_7d,
        coalesce(pressure.messages_{{ channel }}_30d, 0) as messages_{{ channel }}_30d,
        {% endfor %}
        coalesce(pressure.marketing_messages_30d, 0) as marketing_messages_30d
    from customers
    left join purchases using (customer_id)
    left join rfm_named using (customer_id)
    left join preferences using (customer_id)
    left join clv using (customer_id)
    left join cx using (customer_id)
    left join consent_flags using (customer_id)
    left join pressure using (customer_id)
)

select * from final
