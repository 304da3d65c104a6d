with source as (
    select * from {{ source('cx_audit', 'cx_case_actions') }}
),

renamed as (
    select
        action_id,
        case_id,
        customer_id,
        status,
        note,
        actor,
        assigned_to,
        acted_at,
        recorded_at
    from source
)

select * from renamed
