{#- When this dbt invocation started, as a timestamptz: one value per build, rendered when the node runs (dbt compiles
    every node at run time, also after a partial parse). The incremental activation histories mark the rows a build
    keyed with it, so the Delta marts write only those rows' ingest batches. -#}
{% macro build_started_at() -%}
  cast('{{ run_started_at.strftime("%Y-%m-%dT%H:%M:%S.%f") }}+00:00' as timestamptz)
{%- endmacro %}

{#- The rows of `history` (an incremental activation history) in the ingest batches this build touched: every batch
    a row keyed by this build is in now or was in before (a re-sent record moves to a later batch). Written with
    delta_mode replace_where on ingested_at, they replace exactly those batches in the Delta table. -#}
{% macro touched_batches(history) -%}
  select * from {{ history }}
  where ingested_at in (
      select ingested_at from {{ history }} where keyed_at = {{ build_started_at() }}
      union
      select previous_ingested_at from {{ history }}
      where keyed_at = {{ build_started_at() }} and previous_ingested_at is not null
  )
{%- endmacro %}
