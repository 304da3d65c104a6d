{#- When this dbt invocation started, as a timestamptz: one value per build, rendered when the node runs (dbt compiles
    every node at run time, also after a partial parse). The incremental activation histories mark the rows a build
    keyed with it, so the Delta marts merge only those rows. -#}
{% macro build_started_at() -%}
  cast('{{ run_started_at.strftime("%Y-%m-%dT%H:%M:%S.%f") }}+00:00' as timestamptz)
{%- endmacro %}

{#- The rows of a keyed history (int_consent__events, int_contacts__messages) that a history mart has not merged
    yet: keyed after the mart's last successful merge (its table <mart>__merged_to, written by merged_history_mark).
    A build that keys rows but does not reach the mart (`--select +int_contacts__messages`, a failed test, a Dagster
    run of the keyed model alone) leaves them for the next build; filtering on this build's keyed_at alone lost them.
    A lake without a mark yet takes the rows keyed by this build, as before. -#}
{% macro keyed_since_last_merge() -%}
  {%- set mark = none -%}
  {%- if execute and load_relation(merged_to_relation()) is not none -%}
    {%- set mark = run_query("select max(merged_to)::varchar from " ~ merged_to_relation()).columns[0].values()[0] -%}
  {%- endif -%}
  {%- if mark is none -%}
  keyed_at >= {{ build_started_at() }}
  {%- else -%}
  keyed_at > '{{ mark }}'::timestamptz
  {%- endif -%}
{%- endmacro %}

{#- The post-hook of a mart merged from a keyed history (the history marts, customer_consent_ranges): every row keyed
    up to this build's start is merged (its merge took every row keyed after the last mark), in the mart's
    transaction, so a failed lake write leaves the mark where it was. A table per mart: two marts creating one shared
    table in concurrent transactions conflict in DuckDB. -#}
{% macro merged_history_mark() -%}
  create or replace table {{ merged_to_relation() }} as select {{ build_started_at() }} as merged_to
{%- endmacro %}

{#- The one-row table of a history mart's last merge mark, beside the mart in dbt's DuckDB database. -#}
{% macro merged_to_relation() -%}
  {{ return(this.incorporate(path={"identifier": this.identifier ~ "__merged_to"}, type="table")) }}
{%- endmacro %}

{#- The keys of the rows a keyed history (int_consent__events, int_contacts__messages) keyed in this build: the
    `keys_written` of the primary_key tests on the histories merged from it. Named without ref(): a test that refs a
    second model is selected with that model (dbt's eager indirect selection), so `--select +customer_traits` ran the
    history marts' tests without building them. Their model is built after `history` anyway. -#}
{% macro keyed_this_build(history, key) -%}
  {%- if execute -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ history] -%}
    select {{ key }} from {{ api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) }}
    where keyed_at = {{ build_started_at() }}
  {%- endif -%}
{%- endmacro %}

{#- The records of one source resolved to their customers, kept incrementally in an incremental model keyed by
    `record_id`: a build keys only the records ingested since the last one and those whose identity record was
    (re)assigned since (the identity map's assigned_at), not every record again. Each row says when it was keyed (the
    build's start): the history marts merge those rows into the lake. `staging` holds every ingested copy of a record
    (re-sends too); the latest copy of each record read wins. `columns` are the staging model's columns to keep,
    besides ingested_at.
    The two watermarks are read before the query, as constants: the ingest-time filter then reaches the Delta scan,
    which skips the files of earlier batches, and the re-keyed records are looked up only when there are some. -#}
{% macro keyed_history(staging, source, record_id, columns) -%}
{%- set incremental = is_incremental() -%}
{%- set rekeyed_count = 0 -%}
{%- if incremental and execute -%}
  {%- set marks = run_query(
      "select coalesce(max(ingested_at), '-infinity'::timestamptz)::varchar,"
      ~ " coalesce(max(assigned_at), '-infinity'::timestamptz)::varchar from " ~ this
  ).rows[0] -%}
  {%- set ingested_mark, assigned_mark = marks[0], marks[1] -%}
  {%- set rekeyed_sql -%}
    -- a record without assigned_at (a map written before it existed) is re-keyed every build: slow, never wrong
    select source_record_id from {{ ref('int_identity__records') }}
    where source = '{{ source }}' and (assigned_at > '{{ assigned_mark }}'::timestamptz or assigned_at is null)
  {%- endset -%}
  {%- set rekeyed_count = run_query("select count(*) from (" ~ rekeyed_sql ~ ")").columns[0].values()[0] -%}
{%- endif -%}
with identity_map as (
    select source_record_id, customer_id, assigned_at
    from {{ ref('int_identity__records') }}
    where source = '{{ source }}'
),

{% if incremental %}
-- The copies ingested since the last build, and every copy of the records re-keyed since (a record ingested before
-- may have a later copy among the new ones: the dedup below picks the latest either way).
copies as (
    select * from {{ staging }}
    where ingested_at > '{{ ingested_mark }}'::timestamptz
    {% if rekeyed_count > 0 %}
    union all
    select * from {{ staging }}
    where {{ record_id }} in ({{ rekeyed_sql }})
    {% endif %}
),
{% else %}
copies as (
    select * from {{ staging }}
),
{% endif %}

changed as (
    select * from copies
    qualify row_number() over (partition by {{ record_id }} order by ingested_at desc) = 1
),

final as (
    select
        identity_map.customer_id,
        {% for column in columns %}records.{{ column }},
        {% endfor %}records.ingested_at,
        identity_map.assigned_at,
        {{ build_started_at() }} as keyed_at
    from changed as records
    inner join identity_map on identity_map.source_record_id = records.{{ record_id }}
)

select * from final
{%- endmacro %}
