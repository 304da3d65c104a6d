"""Per customer: P(alive), expected purchases in 90/365 days and expected value, from the fit in clv_model_fit.

The predictions depend only on a buyer's (frequency, recency, T, monetary value), and most buyers share theirs
(one purchase occasion: frequency, recency and spend 0, T in whole days), so each distinct tuple is scored once and
joined back to its customers in DuckDB: at 1M customers about 770k buyers have a few thousand distinct tuples.
"""

# What a prediction is a function of: the model's inputs, named as predict_clv reads them.
SCORED_INPUTS = (
    "btyd_frequency as frequency, btyd_recency as recency, btyd_t as T, btyd_monetary_value::double as monetary_value"
)
INPUT_NAMES = ("frequency", "recency", "T", "monetary_value")


def model(dbt, session):
    dbt.config(materialized="delta")
    import json

    from marts.clv import predict_clv

    fits = dbt.ref("clv_model_fit").df()
    buyers = dbt.ref("int_traits__purchases").filter("customer_id is not null and purchase_count > 0")
    params = {row.model: json.loads(row.parameters) for row in fits.itertuples()}
    # no fit: no predictions (an empty table with the same columns)
    inputs = buyers.project(SCORED_INPUTS).distinct().filter("true" if "bg_nbd" in params else "false").df()
    scored = predict_clv(
        inputs.assign(customer_id=None),
        params.get("bg_nbd", {}),
        params.get("gamma_gamma"),
        time_unit_days=float(dbt.config.get("clv_time_unit_days")),
        annual_discount_rate=float(dbt.config.get("clv_annual_discount_rate")),
    ).drop(columns="customer_id")
    predictions = list(scored.columns)
    for name in INPUT_NAMES:
        scored[f"input_{name}"] = inputs[name].to_numpy()
    same_inputs = " and ".join(f"buyers.{n} is not distinct from scored.input_{n}" for n in INPUT_NAMES)
    joined = (
        buyers.project(f"customer_id, {SCORED_INPUTS}")
        .set_alias("buyers")
        .join(session.from_df(scored).set_alias("scored"), same_inputs, how="inner")
    )
    return joined.project(", ".join(["buyers.customer_id", *(f"scored.{c}" for c in predictions)]))
