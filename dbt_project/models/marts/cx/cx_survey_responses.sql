{{
    config(
        delta_mode='merge',
        unique_key='response_id',
    )
}}
-- Every survey answer up to as_of with its category and customer. An answer from an unknown respondent (no
-- identifier resolved to a customer) is kept and counted in the metrics, with customer_id null.
-- Incremental (delta_mode merge): after the first build only the rows that differ from the last build's are written,
-- here and in the lake (new answers, re-sent ones, answers whose record changed customer, repeat-detractor flags
-- that a new answer changed), instead of every answer again each day. Found by comparing whole rows, as in
-- customer_orders; no row leaves this model (as_of only moves forward; an erasure deletes dbt's database).

with responses as (
    select * from {{ ref('stg_surveys__responses') }}
    where responded_at <= {{ as_of() }}
),

identity_map as (
    select * from {{ ref('int_identity__records') }}
    where source = 'survey_responses'
),

categorised as (
    select
        responses.response_id,
        identity_map.customer_id,
        responses.survey_type,
        responses.score,
        case
            when responses.survey_type = 'NPS' and responses.score >= 9 then 'promoter'
            when responses.survey_type = 'NPS' and responses.score >= 7 then 'passive'
            when responses.survey_type = 'NPS' then 'detractor'
            when responses.survey_type = 'CSAT' and responses.score >= 4 then 'satisfied'
            when responses.survey_type = 'CSAT' and responses.score = 3 then 'neutral'
            when responses.survey_type = 'CSAT' then 'dissatisfied'
            -- CES: 7 = very easy, so a LOW score is high effort
            when responses.survey_type = 'CES' and responses.score <= {{ var('cx_ces_high_effort_max') }}
                then 'high_effort'
            when responses.survey_type = 'CES' then 'low_effort'
        end as category,
        responses.touchpoint,
        responses.channel,
        responses.store_id,
        responses.responded_at,
        responses.language,
        responses.order_id,
        responses.ticket_id,
        coalesce(length(trim(responses.comment)) > 0, false) as has_comment
    from responses
    left join identity_map on identity_map.source_record_id = responses.response_id
),

previous_detractor as (
    -- the same customer's previous detractor answer, for "repeat detractor" (two within cx_repeat_detractor_days)
    select
        response_id,
        lag(responded_at) over (partition by customer_id order by responded_at, response_id) as previous_detractor_at
    from categorised
    where category = 'detractor' and customer_id is not null
),

final as (
    select
        categorised.response_id,
        categorised.customer_id,
        categorised.customer_id is not null as is_known_customer,
        categorised.survey_type,
        categorised.score,
        categorised.category,
        coalesce(
            previous_detractor.previous_detractor_at
            > categorised.responded_at - to_days({{ var('cx_repeat_detractor_days') }}),
            false
        ) as is_repeat_detractor,
        categorised.touchpoint,
        categorised.channel,
        categorised.store_id,
        categorised.responded_at,
        categorised.language,
        categorised.order_id,
        categorised.ticket_id,
        categorised.has_comment
    from categorised
    left join previous_detractor using (response_id)
)

{% if delta_is_incremental() %}
select * from final
except
select * from {{ this }}
{% else %}
select * from final
{% endif %}
