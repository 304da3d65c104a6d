"""Per customer: P(alive), expected purchases in 90/365 days and expected value, from the fit in clv_model_fit."""


def model(dbt, session):
    dbt.config(materialized="delta")
    import json

    import pandas as pd

    from marts.clv import predict_clv

    fits = dbt.ref("clv_model_fit").df()
    summary = (
        dbt.ref("int_traits__purchases")
        .filter("customer_id is not null and purchase_count > 0")
        .project(
            "customer_id, btyd_frequency as frequency, btyd_recency as recency, btyd_t as T, "
            "btyd_monetary_value::double as monetary_value"
        )
        .df()
    )
    params = {row.model: json.loads(row.parameters) for row in fits.itertuples()}
    if "bg_nbd" not in params:
        summary = summary.iloc[0:0]
    predicted = predict_clv(
        summary,
        params.get("bg_nbd", {}),
        params.get("gamma_gamma"),
        time_unit_days=float(dbt.config.get("clv_time_unit_days")),
        annual_discount_rate=float(dbt.config.get("clv_annual_discount_rate")),
    )
    return pd.DataFrame(predicted)
