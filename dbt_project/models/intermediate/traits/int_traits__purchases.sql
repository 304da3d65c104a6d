-- Per customer, purchases up to as_of: RFM inputs and the BTYD summary (periods of var('clv_time_unit_days')).

with orders as (
    select * from {{ ref('customer_orders') }}
    where ordered_at <= {{ as_of() }}
),

purchases as (
    select * from orders where is_purchase
),

purchase_days as (
    -- BTYD counts purchase occasions: several orders on one day are one occasion
    select
        customer_id,
        date_trunc('day', ordered_at) as purchase_day,
        sum(amount_reporting) as day_amount,
        row_number() over (partition by customer_id order by date_trunc('day', ordered_at)) as occasion_number
    from purchases
    group by customer_id, date_trunc('day', ordered_at)
),

occasions as (
    select
        customer_id,
        count(*) as occasions,
        min(purchase_day) as first_day,
        max(purchase_day) as last_day,
        -- Gamma-Gamma's spend is the mean of the repeat occasions (the first one excluded)
        avg(day_amount) filter (where occasion_number > 1) as repeat_mean_amount
    from purchase_days
    group by customer_id
),

per_customer as (
    select
        customer_id,
        count(*) filter (where is_purchase) as purchase_count,
        count(*) filter (where is_refund) as refund_count,
        coalesce(sum(amount_reporting) filter (where is_purchase), 0) as monetary_value,
        coalesce(sum(amount_reporting), 0) as net_amount,
        min(ordered_at) filter (where is_purchase) as first_purchase_at,
        max(ordered_at) filter (where is_purchase) as last_purchase_at,
        bool_or(has_unknown_currency) as has_unknown_currency
    from orders
    group by customer_id
),

final as (
    select
        per_customer.*,
        occasions.occasions - 1 as btyd_frequency,
        {{ days_between('occasions.first_day', 'occasions.last_day') }} / {{ var('clv_time_unit_days') }} as btyd_recency,
        {{ days_between('occasions.first_day', as_of()) }} / {{ var('clv_time_unit_days') }} as btyd_t,
        coalesce(occasions.repeat_mean_amount, 0) as btyd_monetary_value
    from per_customer
    left join occasions using (customer_id)
)

select * from final
