{{
    config(
        delta_mode='replace_where',
        delta_replace_on='ingested_at',
    )
}}
-- Every message sent, resolved to its customer, the whole history: the contact history that frequency caps count
-- (activation/inputs.py reads the cap window from it instead of joining bronze to the identity map on every
-- export). This platform's own sends are in audit.activation_deliveries and are added at export time.
-- Kept incrementally in int_contacts__messages; a build writes to Delta only the ingest batches it touched (new
-- messages, re-keyed ones), replacing those batches, so a build with no new messages rewrites nothing.

with touched as (
    {{ touched_batches(ref('int_contacts__messages')) }}
),

final as (
    select customer_id, channel, purpose, sent_at, message_id, campaign_id, ingested_at
    from touched
)

-- Clustered by what an export filters on (channel, then the cap window): Delta statistics skip the rest.
select * from final
order by channel, sent_at
