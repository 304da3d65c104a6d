{{
    config(
        delta_mode='merge',
        post_hook="{{ merged_history_mark() }}",
        unique_key='message_id',
    )
}}
-- Every message sent, resolved to its customer, the whole history: the contact history that frequency caps count
-- (activation/inputs.py reads the cap window from it instead of joining bronze to the identity map on every
-- export). This platform's own sends are in audit.activation_deliveries and are added at export time.
-- Kept incrementally in int_contacts__messages; after the first build only the messages keyed since this mart's
-- last merge (new, re-sent or re-keyed; macro keyed_since_last_merge) are merged into the lake on message_id, so a
-- build with no new messages writes nothing and a message re-sent in a later file replaces its row instead of
-- leaving it twice.

with final as (
    select customer_id, channel, purpose, sent_at, message_id, campaign_id, ingested_at
    from {{ ref('int_contacts__messages') }}
    {% if delta_is_incremental() %}
    where {{ keyed_since_last_merge() }}  -- rows an earlier build keyed but did not merge too
    {% endif %}
)

-- Clustered by what an export filters on (channel, then the cap window): Delta statistics skip the rest.
select * from final
order by channel, sent_at
