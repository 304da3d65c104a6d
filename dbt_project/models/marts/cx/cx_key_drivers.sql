-- The key-driver table (issue 8, item 5): per survey type and operational driver, its share of the explained
-- variance with a bootstrap interval, and its slope on the latent score. Estimated in int_cx__key_driver_estimates
-- (cx/key_drivers.py); this model gives the columns their contract.

with estimates as (
    select * from {{ ref('int_cx__key_driver_estimates') }}
),

final as (
    select
        cast(survey_type as varchar) as survey_type,
        cast(driver as varchar) as driver,
        cast(status as varchar) as status,
        cast(importance as double) as importance,
        cast(ci_low as double) as ci_low,
        cast(ci_high as double) as ci_high,
        cast(importance_rank as integer) as importance_rank,
        cast(importance_lmg as double) as importance_lmg,
        cast(coefficient as double) as coefficient,
        cast(coefficient_ci_low as double) as coefficient_ci_low,
        cast(coefficient_ci_high as double) as coefficient_ci_high,
        cast(coefficient_sign as varchar) as coefficient_sign,
        cast(ols_coefficient as double) as ols_coefficient,
        cast(responses as integer) as responses,
        cast(responses_excluded as integer) as responses_excluded,
        cast(r_squared as double) as r_squared,
        cast(method as varchar) as method,
        cast(replicates as integer) as replicates,
        cast(computed_for_as_of as timestamptz) as computed_for_as_of
    from estimates
)

select * from final
