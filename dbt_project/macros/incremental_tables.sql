{#- A `table` model that starts from its own last build and recomputes only what changed (dbt's is_incremental() is
    for materialized='incremental' only, whose delete+insert cannot drop a key that vanished): true when that table
    exists and this is no --full-refresh. False in a dbt unit test without a `this` input (dbt gives none there);
    unit tests may also override it (overrides: macros). -#}
{% macro keeps_last_build() %}
  {%- if not execute or this is none -%}{{ return(false) }}{%- endif -%}
  {{ return(load_relation(this) is not none and not should_full_refresh()) }}
{% endmacro %}

{#- The select of a kept table's last build (keeps_last_build): how far that build had ingested its input (its
    `watermark` column, '-infinity' for none) and the as_of window between that build and this one, either way
    (as_of may move back), so rows placed in (from_as_of, to_as_of] are the ones the move of as_of can change. -#}
{% macro last_build_window(watermark) %}
    select
        coalesce(max({{ watermark }}), '-infinity'::timestamptz) as {{ watermark }},
        least(coalesce(max(counted_as_of), {{ as_of() }}), {{ as_of() }}) as from_as_of,
        greatest(coalesce(max(counted_as_of), {{ as_of() }}), {{ as_of() }}) as to_as_of
    from {{ this }}
{% endmacro %}
