-- Every message sent, resolved to its customer, the whole history: the contact history that frequency caps count
-- (activation/inputs.py reads the cap window from it instead of joining bronze to the identity map on every
-- export). This platform's own sends are in audit.activation_deliveries and are added at export time.

with identity_map as (
    select * from {{ ref('int_identity__records') }}
    where source = 'messages_sent'
),

messages as (
    select * from {{ ref('stg_messages__messages_sent') }}
),

final as (
    select
        identity_map.customer_id,
        messages.channel,
        messages.purpose,
        messages.sent_at,
        messages.message_id,
        messages.campaign_id,
        messages.ingested_at
    from messages
    inner join identity_map on identity_map.source_record_id = messages.message_id
)

-- Clustered by what an export filters on (channel, then the cap window): Delta statistics skip the rest.
select * from final
order by channel, sent_at
