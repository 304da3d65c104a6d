{{
    config(
        delta_mode='replace_where',
        delta_replace_on='as_of',
    )
}}
-- Traits snapshotted per run with their as_of (appended; a re-run for the same as_of replaces only its snapshot),
-- so feature serving can answer "what did we know on date D".
select * from {{ ref('customer_traits') }}
