{{
    config(
        materialized='incremental',
        unique_key='contact_id',
        incremental_strategy='delete+insert',
    )
}}
-- The latest copy of every CRM contact (the CRM exports whole contacts again when they change: the latest updated_at
-- wins, then the latest ingest), kept in dbt's DuckDB database between builds: the golden record's three readers
-- of contacts read this table instead of each deduplicating every copy ever ingested. Incremental: a build reads
-- only the copies ingested since the last one (the watermark is read first, as a constant, so the filter reaches
-- the Delta scan) and picks each of their contacts' winner among them and the copy kept so far.
-- `cdp erase` deletes this database, so the next build starts from scratch.

{%- set incremental = is_incremental() -%}
{%- if incremental and execute -%}
  {%- set mark = run_query(
      "select coalesce(max(ingested_at), '-infinity'::timestamptz)::varchar from " ~ this
  ).columns[0].values()[0] -%}
{%- endif %}

with copies as (
    select * from {{ ref('stg_crm__contacts') }}
    {% if incremental %}
    where ingested_at > '{{ mark }}'::timestamptz
    {% endif %}
),

{% if incremental %}
candidates as (
    select * from copies
    union all by name
    select kept.* from {{ this }} as kept
    where kept.contact_id in (select contact_id from copies)
),
{% else %}
candidates as (
    select * from copies
),
{% endif %}

final as (
    select * from candidates
    qualify row_number() over (partition by contact_id order by updated_at desc, ingested_at desc) = 1
)

select * from final
