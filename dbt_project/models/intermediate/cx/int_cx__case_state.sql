-- Each follow-up case's state as of as_of, from the agents' action log (audit.cx_case_actions): the latest action
-- wins (ties: the later recorded), so rebuilding the cases never loses an agent's work. cx/cases.py applies the
-- same rules to the whole log to show an update before the next build.

with actions as (
    select * from {{ ref('stg_cx__case_actions') }}
    where acted_at <= {{ as_of() }}
),

ordered as (
    select
        *,
        row_number() over (partition by case_id order by acted_at desc, recorded_at desc) as recency
    from actions
),

final as (
    select
        case_id,
        max(status) filter (where recency = 1) as status,
        max(acted_at) filter (where recency = 1) as last_action_at,
        -- the loop is closed with the customer at the first contact (a case resolved straight away was contacted then)
        min(acted_at) filter (where status in ('contacted', 'resolved')) as contacted_at,
        max(acted_at) filter (where recency = 1 and status = 'resolved') as resolved_at,
        max(note) filter (where recency = 1 and status = 'resolved') as resolution_note,
        coalesce(
            arg_max(assigned_to, acted_at) filter (where assigned_to is not null),
            max(actor) filter (where recency = 1)
        ) as assigned_to,
        count(*) as actions
    from ordered
    group by case_id
)

select * from final
