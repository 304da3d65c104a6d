-- Per customer, purpose and channel, the consent event in force at as_of: the latest wins, and on the same instant a
-- withdrawal wins over a grant (when in doubt, do not contact). No event means no consent (see customer_traits).
-- A filter on the consent ranges (customer_consent_ranges: each event's valid_from/valid_to, ties resolved there)
-- rather than a window over every event at each build.

with ranges as (
    select * from {{ ref('customer_consent_ranges') }}
),

final as (
    select
        customer_id,
        purpose,
        channel,
        status,
        is_granted,
        consent_id,
        occurred_at,
        capture_source,
        policy_version
    from ranges
    where valid_from <= {{ as_of() }} and (valid_to is null or valid_to > {{ as_of() }})
)

select * from final
