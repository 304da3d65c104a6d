-- The consent in force per customer, purpose and channel as of as_of (only combinations with an event; a missing
-- combination means no consent).
select * from {{ ref('int_consent__latest') }}
