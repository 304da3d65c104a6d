{#- The end of every Python model's generated code (dbt's hook py_script_comment): dbt.delta_is_incremental tells a
    `delta` model whether this build merges (macro delta_is_incremental), so that it returns only the new and
    changed rows; dbt's own dbt.is_incremental is true only for materialized='incremental'. -#}
{% macro py_script_comment() %}
dbtObj.delta_is_incremental = {{ delta_is_incremental() }}
{% endmacro %}
