"""The CLV fit (BG/NBD and Gamma-Gamma, PyMC-Marketing, maximum likelihood) so analysts can judge it."""

from datetime import UTC, datetime


def model(dbt, session):
    dbt.config(materialized="delta")
    from marts.clv import fit_clv, fit_table

    summary = (
        dbt.ref("int_traits__purchases")
        .filter("customer_id is not null and purchase_count > 0")
        .project(
            "customer_id, btyd_frequency as frequency, btyd_recency as recency, btyd_t as T, "
            "btyd_monetary_value::double as monetary_value"
        )
        .df()
    )
    as_of = dbt.config.get("as_of")
    observation_end = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC)
    if summary.shape[0] < 10:  # too few buyers to fit: an empty fit table, and no CLV predictions downstream
        return fit_table_empty()
    fit = fit_clv(summary, max_customers=int(dbt.config.get("clv_fit_max_customers")))
    return fit_table(
        fit,
        time_unit_days=float(dbt.config.get("clv_time_unit_days")),
        observation_end=observation_end,
        fitted_at=datetime.now(UTC),
    )


def fit_table_empty():
    import pandas as pd

    from marts.clv import FIT_COLUMNS

    return pd.DataFrame(columns=FIT_COLUMNS)
