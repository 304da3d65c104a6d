{#- A `table` model that starts from its own last build and recomputes only what changed (dbt's is_incremental() is
    for materialized='incremental' only, whose delete+insert cannot drop a key that vanished): true when that table
    exists and this is no --full-refresh. False in a dbt unit test without a `this` input (dbt gives none there);
    unit tests may also override it (overrides: macros). -#}
{% macro keeps_last_build() %}
  {%- if not execute or this is none -%}{{ return(false) }}{%- endif -%}
  {{ return(load_relation(this) is not none and not should_full_refresh()) }}
{% endmacro %}
