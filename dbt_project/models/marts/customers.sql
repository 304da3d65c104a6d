-- The golden record: one row per customer_id, each attribute chosen by survivorship (seeds/survivorship_rules.csv:
-- source priority, then the most recent value, then the most frequent) and carrying the source it came from.
-- Computed incrementally in int_profile__golden_records; this is the contract others read.
select * exclude (records_signature, crm_ingested_until) from {{ ref('int_profile__golden_records') }}
