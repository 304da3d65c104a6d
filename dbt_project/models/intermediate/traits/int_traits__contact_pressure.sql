-- Per customer and channel, messages received in the last 7 and 30 days before as_of (all purposes).

with messages as (
    -- already keyed by customer (incrementally) for activation's contact history
    select customer_id, channel, purpose, sent_at
    from {{ ref('int_contacts__messages') }}
    where sent_at <= {{ as_of() }} and sent_at > {{ as_of() }} - interval 30 day
),

final as (
    select
        customer_id,
        {% for channel in var('consent_channels') %}
        count(*) filter (where channel = '{{ channel }}' and sent_at > {{ as_of() }} - interval 7 day)
            as messages_{{ channel }}_7d,
        count(*) filter (where channel = '{{ channel }}') as messages_{{ channel }}_30d,
        {% endfor %}
        count(*) filter (where purpose not in ('transactional', 'service')) as marketing_messages_30d
    from messages
    group by customer_id
)

select * from final
