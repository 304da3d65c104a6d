-- Every consent event resolved to its customer, the whole history (not as of as_of): the consent gate of an export
-- (activation/inputs.py) picks the event in force at its own send time, and reads this instead of joining bronze to
-- the identity map on every export. Events of records no customer holds are left out (they name nobody).

with identity_map as (
    select * from {{ ref('int_identity__records') }}
    where source = 'consent_events'
),

events as (
    select * from {{ ref('stg_consent__events') }}
),

final as (
    select
        identity_map.customer_id,
        events.purpose,
        events.channel,
        events.status,
        events.status = 'granted' as is_granted,
        events.occurred_at,
        events.consent_id,
        events.ingested_at
    from events
    inner join identity_map on identity_map.source_record_id = events.consent_id
)

-- Clustered by what an export filters on: Delta statistics skip the files of other purposes and channels.
select * from final
order by purpose, channel, customer_id
