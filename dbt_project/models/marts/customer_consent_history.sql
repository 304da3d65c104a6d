{{
    config(
        delta_mode='merge',
        post_hook="{{ merged_history_mark() }}",
        unique_key='consent_id',
    )
}}
-- Every consent event resolved to its customer, the whole history (not as of as_of): the consent gate of an export
-- (activation/inputs.py) picks the event in force at its own send time, and reads this instead of joining bronze to
-- the identity map on every export. Events of records no customer holds are left out (they name nobody).
-- Kept incrementally in int_consent__events; after the first build only the events keyed since this mart's last
-- merge are merged into the lake on consent_id (as customer_contact_history).

with final as (
    select customer_id, purpose, channel, status, is_granted, occurred_at, consent_id, ingested_at
    from {{ ref('int_consent__events') }}
    {% if delta_is_incremental() %}
    where {{ keyed_since_last_merge() }}  -- rows an earlier build keyed but did not merge too
    {% endif %}
)

-- Clustered by what an export filters on: Delta statistics skip the files of other purposes and channels.
select * from final
order by purpose, channel, customer_id
