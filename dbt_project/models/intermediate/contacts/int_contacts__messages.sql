{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
    )
}}
-- Every message sent, resolved to its customer: the whole contact history, kept in dbt's DuckDB database between
-- builds. Incremental (macro keyed_history): a build keys only the messages ingested since the last one and those
-- whose identity record was (re)assigned since, so customer_contact_history merges only those into the lake.
-- `cdp erase` deletes this database, so the next build starts from scratch.

{{ keyed_history(
    ref('stg_messages__messages_sent'), 'messages_sent', 'message_id',
    ['channel', 'purpose', 'sent_at', 'message_id', 'campaign_id']
) }}
