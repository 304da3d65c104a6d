-- Per customer, how they feel about us as of as_of: latest NPS, CSAT and CES averages, open cases, last contact.

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
        -- a ticket is open as of as_of when it was not resolved by then
        count(*) filter (where resolved_at is null or resolved_at > {{ as_of() }}) as open_cases,
        count(*) as support_tickets,
        max(opened_at) as last_contact_at
    from tickets
    group by customer_id
),

final as (
    select
        coalesce(survey_scores.customer_id, ticket_stats.customer_id) as customer_id,
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
        coalesce(ticket_stats.open_cases, 0) as open_cases,
        coalesce(ticket_stats.support_tickets, 0) as support_tickets,
        ticket_stats.last_contact_at
    from survey_scores
    full outer join ticket_stats using (customer_id)
)

select * from final
