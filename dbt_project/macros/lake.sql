{# Where a `delta` model lands in the lake: <lake_root>/<layer>/<alias> (the layout of cdp/lake.py). #}
{% macro lake_location() -%}
  {{ var('lake_root') }}/{{ config.get('lake_layer', 'gold') }}/{{ this.identifier }}
{%- endmacro %}

{#- The observation time every trait is computed as of, one value per run: the dbt var as_of when given (dbt unit
    tests, `--vars` by hand), else the DuckDB variable cdp_as_of, which the lake plugin sets on every connection
    from CDP_AS_OF (default: the run's start). Not a --vars value per build: a changed var re-parses the whole
    project (marts/run_vars.py). -#}
{% macro as_of() -%}
  {%- if var('as_of', '') -%}
  cast('{{ var('as_of') }}' as timestamptz)
  {%- else -%}
  cast(getvariable('cdp_as_of') as timestamptz)
  {%- endif -%}
{%- endmacro %}

{# Whole days between two timestamps (null-safe). #}
{% macro days_between(start, stop) -%}
  (epoch({{ stop }}) - epoch({{ start }})) / 86400.0
{%- endmacro %}
