-- Per customer, how they feel about us as of as_of: latest NPS, CSAT and CES averages, open follow-up cases (the
-- activation care rule holds promotions while one is open), last contact.

with identity_map as (
    select * from {{ ref('int_identity__records') }}
),

responses as (
    select identity_map.customer_id, r.*
    from {{ ref('stg_surveys__responses') }} as r
    inner join identity_map
        on identity_map.source = 'survey_responses' and identity_map.source_record_id = r.response_id
    where r.responded_at <= {{ as_of() }}
),

tickets as (
    select identity_map.customer_id, t.*
    from {{ ref('stg_support__tickets') }} as t
    inner join identity_map
        on identity_map.source = 'support_tickets' and identity_map.source_record_id = t.ticket_id
    where t.opened_at <= {{ as_of() }}
),

cases as (
    select * from {{ ref('cx_cases') }}
),

survey_scores as (
    select
        customer_id,
        arg_max(score, responded_at) filter (where survey_type = 'NPS') as latest_nps,
        max(responded_at) filter (where survey_type = 'NPS') as latest_nps_at,
        avg(score) filter (where survey_type = 'CSAT') as avg_csat,
        avg(score) filter (where survey_type = 'CES') as avg_ces,
        count(*) as survey_responses
    from responses
    group by customer_id
),

ticket_stats as (
    select
        customer_id,
        count(*) as support_tickets,
        max(opened_at) as last_contact_at
    from tickets
    group by customer_id
),

case_stats as (
    -- a follow-up case is open until an agent resolved it (cx_cases applies the action log as of as_of)
    select
        customer_id,
        count(*) filter (where status <> 'resolved') as open_cases
    from cases
    group by customer_id
),

customers as (
    select customer_id from survey_scores
    union
    select customer_id from ticket_stats
    union
    select customer_id from case_stats
),

final as (
    select
        customers.customer_id,
        survey_scores.latest_nps,
        survey_scores.latest_nps_at,
        case
            when survey_scores.latest_nps >= 9 then 'promoter'
            when survey_scores.latest_nps >= 7 then 'passive'
            when survey_scores.latest_nps >= 0 then 'detractor'
        end as nps_category,
        coalesce(
            survey_scores.latest_nps <= 6
            and survey_scores.latest_nps_at > {{ as_of() }} - interval ({{ var('cx_detractor_days') }}) day,
            false
        ) as is_recent_detractor,
        survey_scores.avg_csat,
        survey_scores.avg_ces,
        coalesce(survey_scores.survey_responses, 0) as survey_responses,
        coalesce(case_stats.open_cases, 0) as open_cases,
        coalesce(ticket_stats.support_tickets, 0) as support_tickets,
        ticket_stats.last_contact_at
    from customers
    left join survey_scores using (customer_id)
    left join ticket_stats using (customer_id)
    left join case_stats using (customer_id)
)

select * from final
