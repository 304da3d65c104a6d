{{
    config(
        delta_mode='replace_where',
        delta_replace_on='ingested_at',
    )
}}
-- Every consent event resolved to its customer, the whole history (not as of as_of): the consent gate of an export
-- (activation/inputs.py) picks the event in force at its own send time, and reads this instead of joining bronze to
-- the identity map on every export. Events of records no customer holds are left out (they name nobody).
-- Kept incrementally in int_consent__events; a build writes to Delta only the ingest batches it touched.

with touched as (
    {{ touched_batches(ref('int_consent__events')) }}
),

final as (
    select customer_id, purpose, channel, status, is_granted, occurred_at, consent_id, ingested_at
    from touched
)

-- Clustered by what an export filters on: Delta statistics skip the files of other purposes and channels.
select * from final
order by purpose, channel, customer_id
