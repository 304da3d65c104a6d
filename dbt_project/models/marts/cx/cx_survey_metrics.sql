-- NPS, CSAT and CES per survey type x dimension (all, touchpoint, channel, store) x period (ISO week, month), with
-- 95 % intervals and a minimum-sample flag. One scan of the answers: each answer is counted once per period grain
-- and the four dimensions are grouping sets of one aggregate.
--   NPS  = 100 * (share of 9-10 - share of 0-6), interval from the multinomial variance
--          var(NPS) = (p_promoters + p_detractors - (p_promoters - p_detractors)^2) / n   (normal approximation)
--   CSAT = 100 * share of 4-5, Wilson score interval
--   CES  = mean score (1-7, 7 = very easy), Student's t interval (seeds/cx/cx_t_critical_values.csv)

with responses as (
    select * from {{ ref('cx_survey_responses') }}
),

t_critical_values as (
    select * from {{ ref('cx_t_critical_values') }}
),

per_grain as (
    select
        responses.survey_type,
        responses.score,
        responses.category,
        responses.is_known_customer,
        coalesce(responses.touchpoint, 'unknown') as touchpoint,
        coalesce(responses.channel, 'unknown') as channel,
        responses.store_id,
        grains.period_grain,
        -- periods in UTC whatever the session's time zone
        cast(date_trunc(grains.period_grain, timezone('UTC', responses.responded_at)) as date) as period_start
    from responses
    cross join (values ('week'), ('month')) as grains (period_grain)
),

grouped as (
    select
        survey_type,
        period_grain,
        period_start,
        {{ cx_dimension_columns() }},
        grouping(store_id) = 0 and store_id is null as is_without_store,
        count(*) as responses,
        count(*) filter (where not is_known_customer) as unknown_respondents,
        count(*) filter (where category = 'promoter') as promoters,
        count(*) filter (where category = 'passive') as passives,
        count(*) filter (where category = 'detractor') as detractors,
        count(*) filter (where category = 'satisfied') as satisfied,
        count(*) filter (where category = 'high_effort') as high_effort,
        avg(score) as mean_score,
        stddev_samp(score) as sd_score
    from per_grain
    group by grouping sets (
        (survey_type, period_grain, period_start),
        (survey_type, period_grain, period_start, touchpoint),
        (survey_type, period_grain, period_start, channel),
        (survey_type, period_grain, period_start, store_id)
    )
),

score_counts as (
    select
        survey_type,
        period_grain,
        period_start,
        {{ cx_dimension_columns() }},
        score,
        count(*) as answers
    from per_grain
    group by grouping sets (
        (survey_type, period_grain, period_start, score),
        (survey_type, period_grain, period_start, touchpoint, score),
        (survey_type, period_grain, period_start, channel, score),
        (survey_type, period_grain, period_start, store_id, score)
    )
),

distributions as (
    select
        survey_type,
        period_grain,
        period_start,
        dimension,
        dimension_value,
        -- {"score": answers, ...} in score order
        '{' || string_agg('"' || score || '":' || answers, ',' order by score) || '}' as score_distribution
    from score_counts
    where dimension_value is not null
    group by all
),

shares as (
    select
        grouped.*,
        promoters / responses as p_promoters,
        detractors / responses as p_detractors,
        satisfied / responses as p_satisfied,
        coalesce(t_critical_values.t_975, 1.959964) as t_975
    from grouped
    left join t_critical_values on t_critical_values.degrees_of_freedom = grouped.responses - 1
    where not grouped.is_without_store
),

metrics as (
    select
        shares.survey_type,
        shares.dimension,
        shares.dimension_value,
        shares.period_grain,
        shares.period_start,
        shares.responses,
        shares.unknown_respondents,
        shares.responses >= {{ var('cx_min_sample') }} as is_reportable,
        case when shares.survey_type = 'NPS' then shares.promoters end as promoters,
        case when shares.survey_type = 'NPS' then shares.passives end as passives,
        case when shares.survey_type = 'NPS' then shares.detractors end as detractors,
        case when shares.survey_type = 'NPS' then 100 * (shares.p_promoters - shares.p_detractors) end as nps,
        case when shares.survey_type = 'NPS' then greatest(-100.0, 100 * (
            shares.p_promoters - shares.p_detractors
            - 1.959964 * sqrt(
                (shares.p_promoters + shares.p_detractors - pow(shares.p_promoters - shares.p_detractors, 2))
                / shares.responses
            )
        )) end as nps_ci_low,
        case when shares.survey_type = 'NPS' then least(100.0, 100 * (
            shares.p_promoters - shares.p_detractors
            + 1.959964 * sqrt(
                (shares.p_promoters + shares.p_detractors - pow(shares.p_promoters - shares.p_detractors, 2))
                / shares.responses
            )
        )) end as nps_ci_high,
        case when shares.survey_type = 'CSAT' then shares.satisfied end as satisfied,
        case when shares.survey_type = 'CSAT' then 100 * shares.p_satisfied end as csat,
        -- Wilson: (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964
        case when shares.survey_type = 'CSAT' then 100 * (
            shares.p_satisfied + 3.841459 / (2 * shares.responses)
            - 1.959964 * sqrt(
                shares.p_satisfied * (1 - shares.p_satisfied) / shares.responses
                + 3.841459 / (4 * pow(shares.responses, 2))
            )
        ) / (1 + 3.841459 / shares.responses) end as csat_ci_low,
        case when shares.survey_type = 'CSAT' then 100 * (
            shares.p_satisfied + 3.841459 / (2 * shares.responses)
            + 1.959964 * sqrt(
                shares.p_satisfied * (1 - shares.p_satisfied) / shares.responses
                + 3.841459 / (4 * pow(shares.responses, 2))
            )
        ) / (1 + 3.841459 / shares.responses) end as csat_ci_high,
        case when shares.survey_type = 'CES' then shares.high_effort end as high_effort,
        case when shares.survey_type = 'CES' then shares.mean_score end as ces_mean,
        -- a single answer has no spread: no interval
        case when shares.survey_type = 'CES' and shares.responses > 1
            then shares.mean_score - shares.t_975 * shares.sd_score / sqrt(shares.responses) end as ces_ci_low,
        case when shares.survey_type = 'CES' and shares.responses > 1
            then shares.mean_score + shares.t_975 * shares.sd_score / sqrt(shares.responses) end as ces_ci_high,
        distributions.score_distribution
    from shares
    left join distributions using (survey_type, period_grain, period_start, dimension, dimension_value)
),

final as (
    -- 4 decimals: more than any reader needs, and the same value on every run
    select
        * replace (
            round(nps, 4) as nps,
            round(nps_ci_low, 4) as nps_ci_low,
            round(nps_ci_high, 4) as nps_ci_high,
            round(csat, 4) as csat,
            round(csat_ci_low, 4) as csat_ci_low,
            round(csat_ci_high, 4) as csat_ci_high,
            round(ces_mean, 4) as ces_mean,
            round(ces_ci_low, 4) as ces_ci_low,
            round(ces_ci_high, 4) as ces_ci_high
        )
    from metrics
)

select * from final
