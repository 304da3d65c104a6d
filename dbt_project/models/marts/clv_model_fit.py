"""The CLV fit (BG/NBD and Gamma-Gamma, PyMC-Marketing, maximum likelihood) so analysts can judge it.

A fit is re-used until it is `clv_refit_days` older than as_of (or `clv_refit` is true, or the run's CDP_CLV_REFIT:
`cdp build --refit-clv`): refitting every build costs more than everything else in an incremental build, and a
customer base's parameters move slowly.
"""

from datetime import UTC, datetime, timedelta


def model(dbt, session):
    dbt.config(materialized="delta")
    from marts.clv import FIT_COLUMNS, fit_clv, fit_table, reusable_fit
    from marts.run_vars import session_as_of, session_clv_refit

    configured_as_of = dbt.config.get("as_of")  # plain calls: dbt passes only the config keys it sees called
    configured_refit = dbt.config.get("clv_refit")
    as_of = session_as_of(session, configured_as_of)  # the dbt var when given, else the run's (marts/run_vars.py)
    previous = reusable_fit(
        f"{dbt.config.get('lake_root')}/gold/clv_model_fit",
        as_of=as_of,
        max_age=timedelta(days=float(dbt.config.get("clv_refit_days"))),
        time_unit_days=float(dbt.config.get("clv_time_unit_days")),
    )
    if previous is not None and not session_clv_refit(session, configured_refit):
        return previous
    summary = (
        dbt.ref("int_traits__purchases")
        .filter("customer_id is not null and purchase_count > 0")
        .project(
            "customer_id, btyd_frequency as frequency, btyd_recency as recency, btyd_t as T, "
            "btyd_monetary_value::double as monetary_value"
        )
        .df()
    )
    if summary.shape[0] < 10:  # too few buyers to fit: an empty fit table, and no CLV predictions downstream
        import pandas as pd

        return pd.DataFrame(columns=FIT_COLUMNS)
    fit = fit_clv(summary, max_customers=int(dbt.config.get("clv_fit_max_customers")))
    return fit_table(
        fit,
        time_unit_days=float(dbt.config.get("clv_time_unit_days")),
        observation_end=as_of,
        fitted_at=datetime.now(UTC),
    )
