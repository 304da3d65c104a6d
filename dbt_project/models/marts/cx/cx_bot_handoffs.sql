-- A human behind automation: every support contact handled by the bot up to as_of, with the reasons it is complex
-- (the same customer came back to the bot within cx_bot_repeat_days, it took cx_bot_max_turns contacts or more, or
-- its text reads negative in cx_text_insights),
-- whether it reached a human, and how fast. A complex contact the bot kept is flagged for a person.
-- Minutes to a human: for an escalated bot contact the first response is a human agent's (the generator and our
-- bot both answer in seconds, an escalation waits for an agent), so first_response_at - opened_at.

with tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where opened_at <= {{ as_of() }} and channel = 'bot'
),

identity_map as (
    select * from {{ ref('int_identity__records') }}
    where source = 'support_tickets'
),

text_insights as (
    select * from {{ ref('cx_text_insights') }}
    where source = 'support_tickets'
),

bot_contacts as (
    select
        tickets.*,
        identity_map.customer_id,
        coalesce(text_insights.sentiment_label = 'negative', false) as has_negative_sentiment,
        case when identity_map.customer_id is not null then
            lag(tickets.opened_at) over (
                partition by identity_map.customer_id order by tickets.opened_at, tickets.ticket_id
            )
        end as previous_bot_contact_at
    from tickets
    left join identity_map on identity_map.source_record_id = tickets.ticket_id
    left join text_insights on text_insights.source_id = tickets.ticket_id
),

flagged as (
    select
        *,
        coalesce(
            previous_bot_contact_at > opened_at - to_days({{ var('cx_bot_repeat_days') }}), false
        ) as is_repeat_contact,
        contact_count >= {{ var('cx_bot_max_turns') }} as is_unresolved_after_turns
    from bot_contacts
),

final as (
    select
        ticket_id,
        customer_id,
        opened_at,
        first_response_at,
        case when resolved_at <= {{ as_of() }} then resolved_at end as resolved_at,
        contact_count,
        language,
        is_repeat_contact,
        is_unresolved_after_turns,
        has_negative_sentiment,
        list_filter(
            [
                case when is_repeat_contact then 'repeat_contact' end,
                case when is_unresolved_after_turns then 'unresolved_after_turns' end,
                case when has_negative_sentiment then 'negative_sentiment' end
            ],
            reason -> reason is not null
        ) as handoff_reasons,
        is_repeat_contact or is_unresolved_after_turns or has_negative_sentiment as is_complex,
        is_escalated_to_human as reached_human,
        (is_repeat_contact or is_unresolved_after_turns or has_negative_sentiment) and not is_escalated_to_human
            as is_flagged_for_person,
        case when is_escalated_to_human then epoch(first_response_at - opened_at) / 60.0 end as minutes_to_human
    from flagged
)

select * from final
