"""Key-driver estimates per survey type and driver (Python: cx/key_drivers.py), from survey responses up to as_of
joined to their order and ticket. Python models cannot carry a contract, so the SQL mart cx_key_drivers adds it.

Incremental: the bootstrap behind the intervals is most of this model's time, so the last estimates are re-used while
they were computed for an as_of less than `cx_key_driver_refit_days` before this build's (checked first, without
reading the inputs), or when their inputs' fingerprint is unchanged (no new response, no driver changed)
(cx.key_drivers.reusable_estimates). Re-used rows keep
their computed_for_as_of: the fit's date. `--full-refresh` (or a lost marts DuckDB file) fits again.
"""


def model(dbt, session):
    # every build returns the whole table (one row per survey type x driver): the merge replaces the rows
    dbt.config(
        materialized="incremental",
        incremental_strategy="merge",
        unique_key=["survey_type", "driver"],
        on_schema_change="append_new_columns",  # tables built before input_fingerprint existed gain it
    )
    import functools

    from cx.key_drivers import (
        AnalysisSettings,
        build_driver_matrix,
        inputs_fingerprint,
        key_drivers,
        reusable_estimates,
    )
    from marts.run_vars import session_as_of

    # dbt finds the config keys a Python model reads by parsing its dbt.config.get calls: keep each call a plain
    # statement (inside an `or` expression it is missed and the value never arrives)
    configured = dbt.config.get("as_of")
    as_of = session_as_of(session, configured)  # the dbt var when given, else the run's (marts/run_vars.py)
    refit_days = dbt.config.get("cx_key_driver_refit_days")
    settings = AnalysisSettings(
        replicates=int(dbt.config.get("cx_key_driver_replicates")),
        seed=int(dbt.config.get("cx_key_driver_seed")),
        min_responses=int(dbt.config.get("cx_key_driver_min_responses")),
    )
    responses_rel = (
        dbt.ref("stg_surveys__responses")
        .filter(f"responded_at <= '{as_of.isoformat()}'::timestamptz")
        .project("response_id, survey_type, score, order_id, ticket_id")
    )

    @functools.cache
    def driver_matrix():
        # read only when needed: a young fit is re-used without it. Only the orders and tickets the responses name
        # (a response's drivers come from its own order and ticket), not every order of the lake into pandas.
        responses = responses_rel.df()
        named = session.from_df(responses)
        orders = (
            dbt.ref("int_orders__unioned")
            .filter("source = 'orders'")
            .join(
                named.project("order_id as named_order_id").distinct(),
                "source_record_id = named_order_id",
                how="semi",
            )
            .project(
                "source_record_id as order_id, promised_delivery_at, delivered_at, "
                "amount_reporting::double as amount_reporting"
            )
            .df()
        )
        tickets = (
            dbt.ref("stg_support__tickets")
            .join(named.project("ticket_id as named_ticket_id").distinct(), "ticket_id = named_ticket_id", how="semi")
            .project("ticket_id, opened_at, first_response_at, contact_count, channel")
            .df()
        )
        return build_driver_matrix(responses, orders, tickets)

    @functools.cache
    def fingerprint():
        return inputs_fingerprint(driver_matrix(), settings)

    previous = session.sql(f"select * from {dbt.this}").df() if dbt.is_incremental else None
    kept = reusable_estimates(previous, fingerprint=fingerprint, as_of=as_of, refit_days=float(refit_days))
    if kept is not None:
        return kept
    table = key_drivers(driver_matrix(), settings)
    table["computed_for_as_of"] = as_of
    table["input_fingerprint"] = fingerprint()
    return table
