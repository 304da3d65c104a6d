-- Per customer and channel, messages received in the last 7 and 30 days before as_of (all purposes).

with identity_map as (
    select * from {{ ref('int_identity__records') }}
),

messages as (
    select identity_map.customer_id, m.channel, m.purpose, m.sent_at
    from {{ ref('stg_messages__messages_sent') }} as m
    inner join identity_map
        on identity_map.source = 'messages_sent' and identity_map.source_record_id = m.message_id
    where m.sent_at <= {{ as_of() }} and m.sent_at > {{ as_of() }} - interval 30 day
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
