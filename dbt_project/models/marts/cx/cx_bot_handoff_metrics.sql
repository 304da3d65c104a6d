-- Per ISO week (UTC) of bot contacts: how many were complex (cx_bot_handoffs), the share of those that reached a
-- human and how fast (minutes from opening to the first human response), and how many are flagged for a person.

with handoffs as (
    select * from {{ ref('cx_bot_handoffs') }}
),

final as (
    select
        cast(date_trunc('week', timezone('UTC', opened_at)) as date) as week_start,
        count(*) as bot_contacts,
        count(*) filter (where is_complex) as complex_contacts,
        count(*) filter (where is_complex and reached_human) as complex_reached_human,
        count(*) filter (where is_complex and reached_human) / nullif(count(*) filter (where is_complex), 0)
            as complex_reached_human_share,
        median(minutes_to_human) filter (where is_complex) as median_minutes_to_human,
        quantile_cont(minutes_to_human, 0.9) filter (where is_complex) as p90_minutes_to_human,
        count(*) filter (where is_flagged_for_person) as flagged_for_person,
        count(*) filter (where reached_human) as all_reached_human
    from handoffs
    group by all
)

select * from final
