-- Repeat purchase and retention by first-purchase month: for each cohort (customers whose first purchase fell in
-- that UTC month) and each month since (0 = the cohort month, up to as_of's month), the customers who bought in
-- that month, the share of the cohort they are, the share that had made a repeat (second) purchase by the end of
-- that month, and the revenue. Only purchases (customer_orders.is_purchase) by a known customer up to as_of.

with orders as (
    select * from {{ ref('customer_orders') }}
    where is_purchase and customer_id is not null and ordered_at <= {{ as_of() }}
),

purchases as (
    select
        customer_id,
        ordered_at,
        amount_reporting,
        cast(date_trunc('month', timezone('UTC', ordered_at)) as date) as purchase_month
    from orders
),

firsts as (
    select
        customer_id,
        min(purchase_month) as cohort_month,
        -- the second purchase (a repeat), null for one-time buyers
        list_sort(list(ordered_at))[2] as second_purchase_at
    from purchases
    group by customer_id
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_customers from firsts group by cohort_month
),

monthly as (
    select
        firsts.cohort_month,
        cast(date_diff('month', firsts.cohort_month, purchases.purchase_month) as integer) as months_since_first,
        count(distinct purchases.customer_id) as active_customers,
        count(*) as purchases,
        sum(purchases.amount_reporting) as revenue
    from purchases
    inner join firsts using (customer_id)
    group by all
),

repeats as (
    select
        cohort_month,
        cast(
            date_diff('month', cohort_month, cast(date_trunc('month', timezone('UTC', second_purchase_at)) as date))
            as integer
        ) as months_since_first,
        count(*) as new_repeat_customers
    from firsts
    where second_purchase_at is not null
    group by all
),

grid as (
    -- every month from the cohort's to as_of's, so a month with no buyer shows 0
    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        cast(months.months_since_first as integer) as months_since_first
    from cohort_sizes
    cross join lateral (
        select unnest(range(
            date_diff('month', cohort_sizes.cohort_month, cast(timezone('UTC', {{ as_of() }}) as date)) + 1
        )) as months_since_first
    ) as months
),

final as (
    select
        grid.cohort_month,
        grid.months_since_first,
        grid.cohort_customers,
        coalesce(monthly.active_customers, 0) as active_customers,
        cast(coalesce(monthly.active_customers, 0) as double) / grid.cohort_customers as retention_rate,
        cast(
            coalesce(sum(repeats.new_repeat_customers) over cumulative, 0) as bigint
        ) as repeat_customers,
        coalesce(sum(repeats.new_repeat_customers) over cumulative, 0) / grid.cohort_customers as repeat_purchase_rate,
        coalesce(monthly.purchases, 0) as purchases,
        cast(coalesce(monthly.revenue, 0) as decimal(18, 2)) as revenue,
        '{{ var("reporting_currency") }}' as reporting_currency
    from grid
    left join monthly using (cohort_month, months_since_first)
    left join repeats using (cohort_month, months_since_first)
    window cumulative as (partition by grid.cohort_month order by grid.months_since_first)
)

select * from final
