"""Key-driver estimates per survey type and driver (Python: cx/key_drivers.py), from survey responses up to as_of
joined to their order and ticket. Python models cannot carry a contract, so the SQL mart cx_key_drivers adds it."""


def model(dbt, session):
    dbt.config(materialized="table")
    from cx.key_drivers import AnalysisSettings, build_driver_matrix, key_drivers
    from marts.run_vars import session_as_of

    # dbt finds the config keys a Python model reads by parsing its dbt.config.get calls: keep each call a plain
    # statement (inside an `or` expression it is missed and the value never arrives)
    configured = dbt.config.get("as_of")
    as_of = session_as_of(session, configured)  # the dbt var when given, else the run's (marts/run_vars.py)
    responses = (
        dbt.ref("stg_surveys__responses")
        .filter(f"responded_at <= '{as_of.isoformat()}'::timestamptz")
        .project("response_id, survey_type, score, order_id, ticket_id")
        .df()
    )
    orders = (
        dbt.ref("int_orders__unioned")
        .filter("source = 'orders'")
        .project(
            "source_record_id as order_id, promised_delivery_at, delivered_at, "
            "amount_reporting::double as amount_reporting"
        )
        .df()
    )
    tickets = (
        dbt.ref("stg_support__tickets").project("ticket_id, opened_at, first_response_at, contact_count, channel").df()
    )
    settings = AnalysisSettings(
        replicates=int(dbt.config.get("cx_key_driver_replicates")),
        seed=int(dbt.config.get("cx_key_driver_seed")),
        min_responses=int(dbt.config.get("cx_key_driver_min_responses")),
    )
    table = key_drivers(build_driver_matrix(responses, orders, tickets), settings)
    table["computed_for_as_of"] = as_of
    return table
