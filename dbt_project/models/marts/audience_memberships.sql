-- Who is in which audience, with history: a row per stay (entered_at .. exited_at, open while exited_at is null).
-- Read back from the lake and extended each run, so "who was in 'high_clv_at_risk' last Tuesday?" is
-- `entered_at <= tuesday and (exited_at is null or exited_at > tuesday)`.

with current_members as (
    select * from {{ ref('int_audiences__members') }}
),

definitions as (
    select name from {{ ref('int_audiences__definitions') }}
),

customers as (
    select customer_id from {{ ref('customers') }}
),

previous as (
    select * from {{ source('history', 'audience_memberships') }}
),

still_open as (
    select * from previous where exited_at is null
),

closed_before as (
    select * from previous where exited_at is not null
),

continued_or_exited as (
    select
        still_open.audience_name,
        still_open.customer_id,
        still_open.entered_at,
        case when current_members.customer_id is null then {{ as_of() }} end as exited_at,
        case
            when current_members.customer_id is not null then null
            when still_open.audience_name not in (select name from definitions) then 'audience_removed'
            -- identity merged this person into another customer_id: the new id enters, this one leaves
            when still_open.customer_id not in (select customer_id from customers) then 'customer_id_retired'
            else 'no_longer_matches'
        end as exit_reason,
        coalesce(current_members.is_holdout, still_open.is_holdout) as is_holdout
    from still_open
    left join current_members
        on current_members.audience_name = still_open.audience_name
        and current_members.customer_id = still_open.customer_id
),

entered as (
    select
        current_members.audience_name,
        current_members.customer_id,
        {{ as_of() }} as entered_at,
        null::timestamptz as exited_at,
        null::varchar as exit_reason,
        current_members.is_holdout
    from current_members
    anti join still_open
        on still_open.audience_name = current_members.audience_name
        and still_open.customer_id = current_members.customer_id
),

final as (
    select audience_name, customer_id, entered_at, exited_at, exit_reason, is_holdout from closed_before
    union all
    select audience_name, customer_id, entered_at, exited_at, exit_reason, is_holdout from continued_or_exited
    union all
    select audience_name, customer_id, entered_at, exited_at, exit_reason, is_holdout from entered
)

select
    md5(audience_name || ':' || customer_id || ':' || entered_at::varchar) as membership_id,
    *
from final
