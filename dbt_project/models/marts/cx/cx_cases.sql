-- Follow-up cases: every record that meets a trigger (seeds/cx/cx_case_triggers.csv) opens one case for a person
-- to close the loop with the customer within the trigger's SLA: survey answers by type, category and score, support
-- tickets by the sentiment of their text (cx_text_insights). The case id is derived from the source record, so
-- a rebuild finds the same case, and its status comes from the agents' action log (int_cx__case_state).
-- Only records of a known customer open a case (nobody to call back otherwise); records older than
-- cx_case_lookback_days before as_of open none, but a case an agent has acted on is always kept.

with responses as (
    select * from {{ ref('cx_survey_responses') }}
),

triggers as (
    select * from {{ ref('cx_case_triggers') }}
    where is_enabled
),

text_insights as (
    select * from {{ ref('cx_text_insights') }}
    where source = 'support_tickets'
),

tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where opened_at <= {{ as_of() }}
),

case_state as (
    select * from {{ ref('int_cx__case_state') }}
),

survey_candidates as (
    select
        triggers.trigger_name,
        'survey_responses' as source,
        responses.response_id as source_id,
        responses.customer_id,
        responses.survey_type,
        responses.score,
        responses.category,
        responses.is_repeat_detractor,
        responses.touchpoint,
        responses.channel,
        responses.store_id,
        responses.language,
        responses.order_id,
        responses.ticket_id,
        responses.responded_at as opened_at,
        triggers.queue,
        triggers.priority,
        triggers.sla_hours
    from responses
    inner join triggers
        on triggers.source = 'survey_responses'
        and triggers.survey_type = responses.survey_type
        and (triggers.match_category is null or triggers.match_category = responses.category)
        and (triggers.max_score is null or responses.score <= triggers.max_score)
    where responses.customer_id is not null
),

ticket_candidates as (
    select
        triggers.trigger_name,
        'support_tickets' as source,
        tickets.ticket_id as source_id,
        text_insights.customer_id,
        null as survey_type,
        null::integer as score,
        text_insights.sentiment_label as category,
        false as is_repeat_detractor,
        'support' as touchpoint,
        tickets.channel,
        null as store_id,
        coalesce(text_insights.language, tickets.language) as language,
        tickets.order_id,
        tickets.ticket_id,
        tickets.opened_at,
        triggers.queue,
        triggers.priority,
        triggers.sla_hours
    from tickets
    inner join text_insights on text_insights.source_id = tickets.ticket_id
    inner join triggers
        on triggers.source = 'support_tickets'
        and text_insights.sentiment_score <= triggers.max_sentiment_score
    where text_insights.customer_id is not null
),

candidates as (
    select * from survey_candidates
    union all by name
    select * from ticket_candidates
),

one_per_record as (
    -- a record meeting several triggers opens one case, under the most urgent trigger
    select *
    from candidates
    qualify row_number() over (
        partition by source, source_id
        order by case priority when 'urgent' then 0 when 'high' then 1 when 'normal' then 2 else 3 end, sla_hours,
            trigger_name
    ) = 1
),

with_ids as (
    select
        'case_' || left(md5(source || ':' || source_id), 20) as case_id,
        *,
        opened_at + to_hours(sla_hours) as due_at
    from one_per_record
),

final as (
    select
        with_ids.case_id,
        with_ids.trigger_name,
        with_ids.source,
        with_ids.source_id,
        with_ids.customer_id,
        with_ids.survey_type,
        with_ids.score,
        with_ids.category,
        with_ids.is_repeat_detractor,
        with_ids.touchpoint,
        with_ids.channel,
        with_ids.store_id,
        with_ids.language,
        with_ids.order_id,
        with_ids.ticket_id,
        with_ids.queue,
        with_ids.priority,
        with_ids.sla_hours,
        with_ids.opened_at,
        with_ids.due_at,
        coalesce(case_state.status, 'open') as status,
        case_state.contacted_at,
        case_state.resolved_at,
        case_state.resolution_note,
        case_state.assigned_to,
        case_state.last_action_at,
        coalesce(case_state.actions, 0) as actions,
        coalesce(case_state.status, 'open') <> 'resolved' and with_ids.due_at < {{ as_of() }} as is_overdue,
        case when case_state.status = 'resolved' then case_state.resolved_at <= with_ids.due_at end
            as is_resolved_within_sla
    from with_ids
    left join case_state using (case_id)
    where
        with_ids.opened_at > {{ as_of() }} - to_days({{ var('cx_case_lookback_days') }})
        or case_state.case_id is not null
)

select * from final
