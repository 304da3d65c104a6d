"""Language, sentiment, topics and key phrases of every survey comment and ticket text (cx/text_insights.py).

Incremental: a text is analysed once. Its row in this model's last result is kept while the text's hash and the
analyser version (lexicons, topics.yaml, the code, the libraries) are the same; new and changed texts are analysed,
and a changed analyser re-analyses everything. The model returns every current text, and the merge (the yml's
merge_clauses) deletes the rows of texts that are gone, so nothing erased or withdrawn survives here. Without a
last result (first build, `--full-refresh`, or after `cdp erase`, which deletes the marts' DuckDB file) the analyses
are re-used from gold.cx_text_insights, from which erasure deleted the person's rows. The SQL mart cx_text_insights
adds the customer and the contract (Python models cannot carry one).
"""


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="merge", unique_key="text_key")
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
    # the last result is read in DuckDB (only the texts to analyse become Python objects); gold when there is none
    previous = str(dbt.this) if dbt.is_incremental else previous_insights(str(insights_path))
    return insights_table(texts.arrow(), previous, analysed_at=as_of, con=session)
