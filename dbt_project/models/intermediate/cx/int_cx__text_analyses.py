"""Language, sentiment, topics and key phrases of every survey comment and ticket text (cx/text_analytics.py).

A text is analysed once: when its hash and the analyser version match the row already in gold.cx_text_insights,
that row's analysis is kept, so a build analyses only new and changed texts. (dbt's incremental materialization
does not write Delta and Python models cannot carry a contract, so this model re-uses the mart's last version and
the SQL mart cx_text_insights adds the customer and the contract.)
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from cx.text_insights import insights_table, previous_insights
    from marts.run_vars import session_as_of

    as_of_text = dbt.config.get("analysis_as_of")  # a plain call: dbt passes only the config keys it sees called
    as_of = session_as_of(session, as_of_text)  # the dbt var when given, else the run's (marts/run_vars.py)
    responses = (
        dbt.ref("stg_surveys__responses")
        .filter("comment is not null and trim(comment) <> ''")
        .project("'survey_responses' as source, response_id as source_id, comment as text, responded_at as written_at")
    )
    tickets = (
        dbt.ref("stg_support__tickets")
        .filter("coalesce(trim(subject), '') <> '' or coalesce(trim(body), '') <> ''")
        .project(
            "'support_tickets' as source, ticket_id as source_id, "
            "concat_ws(chr(10), nullif(trim(subject), ''), nullif(trim(body), '')) as text, opened_at as written_at"
        )
    )
    texts = responses.union(tickets).filter(f"written_at is null or written_at <= '{as_of.isoformat()}'::timestamptz")
    insights_path = dbt.config.get("insights_path")
    previous = previous_insights(str(insights_path))
    return insights_table(texts.arrow(), previous, analysed_at=as_of)
