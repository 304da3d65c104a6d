-- Per customer, purpose and channel, the consent event in force at as_of: the latest wins, and on the same instant a
-- withdrawal wins over a grant (when in doubt, do not contact). No event means no consent (see customer_traits).

with identity_map as (
    select * from {{ ref('int_identity__records') }}
),

events as (
    select identity_map.customer_id, c.*
    from {{ ref('stg_consent__events') }} as c
    inner join identity_map
        on identity_map.source = 'consent_events' and identity_map.source_record_id = c.consent_id
    where c.occurred_at <= {{ as_of() }}
),

final as (
    select
        customer_id,
        purpose,
        channel,
        status,
        status = 'granted' as is_granted,
        consent_id,
        occurred_at,
        capture_source,
        policy_version
    from events
    qualify row_number() over (
        partition by customer_id, purpose, channel
        order by occurred_at desc, (status = 'withdrawn') desc, consent_id desc
    ) = 1
)

select * from final
