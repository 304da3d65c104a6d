{# Where a `delta` model lands in the lake: <lake_root>/<layer>/<alias> (the layout of cdp/lake.py). #}
{% macro lake_location() -%}
  {{ var('lake_root') }}/{{ config.get('lake_layer', 'gold') }}/{{ this.identifier }}
{%- endmacro %}

{# The observation time every trait is computed as of: var('as_of') (ISO-8601) or the run's start, one value per run. #}
{% macro as_of_text() -%}
  {{ var('as_of') or run_started_at.isoformat() }}
{%- endmacro %}

{% macro as_of() -%}
  cast('{{ as_of_text() }}' as timestamptz)
{%- endmacro %}

{# Whole days between two timestamps (null-safe). #}
{% macro days_between(start, stop) -%}
  (epoch({{ stop }}) - epoch({{ start }})) / 86400.0
{%- endmacro %}
