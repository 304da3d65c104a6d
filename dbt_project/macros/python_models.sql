{#- The end of every Python model's generated code (dbt's hook py_script_comment): dbt.delta_is_incremental tells a
    `delta` model whether this build merges (macro delta_is_incremental), so that it returns only the new and
    changed rows; dbt's own dbt.is_incremental is true only for materialized='incremental'. -#}
{% macro py_script_comment() %}
dbtObj.delta_is_incremental = {{ delta_is_incremental() }}
{% endmacro %}

{#- A post-hook of every Python incremental model: dbt-duckdb builds its new rows in a real table named
    `<model>__dbt_tmp<timestamp>` but drops it only on MotherDuck (elsewhere it takes it for a temporary table), so
    the marts' DuckDB file grew by one copy of the rows a build. Drops every such copy of this model, a failed
    build's included, inside the model's transaction (its commit follows). -#}
{% macro drop_python_model_temp_tables() %}
  {%- if execute -%}
    {%- set leaked = run_query(
        "select table_name from information_schema.tables where table_catalog = '" ~ this.database
        ~ "' and table_schema = '" ~ this.schema ~ "' and starts_with(table_name, '" ~ this.identifier ~ "__dbt_tmp')"
    ) -%}
    {%- for name in leaked.columns[0].values() -%}
      {%- do adapter.drop_relation(this.incorporate(path={"identifier": name}, type="table")) -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}
