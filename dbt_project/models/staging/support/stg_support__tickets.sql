with source as (
    select * from {{ source('bronze', 'support_tickets') }}
),

renamed as (
    select
        ticket_id,
        customer_ref,
        email,
        phone,
        channel,
        opened_at,
        first_response_at,
        resolved_at,
        coalesce(contact_count, 1) as contact_count,
        coalesce(escalated_to_human, false) as is_escalated_to_human,
        subject,
        body,
        language,
        order_id,
        _ingested_at as ingested_at
    from source
    -- a ticket is re-exported as it progresses: the latest state wins
    qualify row_number() over (partition by ticket_id order by _ingested_at desc, resolved_at desc nulls last) = 1
)

select * from renamed
