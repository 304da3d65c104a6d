{#-
  A model built as a DuckDB table (so tests, contracts and downstream models read it here) and then written to the
  lake as a Delta table at <lake_root>/<lake_layer>/<alias> by the `lake` plugin (marts/duckdb_delta.py).
  Config: lake_layer (default gold), delta_mode (overwrite | append | replace_where), delta_replace_on (the column
  whose values in the new rows name the rows replace_where replaces).
-#}
{% materialization delta, adapter='duckdb', supported_languages=['sql', 'python'] %}
  {%- set language = model['language'] -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set temp_relation = make_intermediate_relation(target_relation, suffix='__dbt_tmp') -%}
  {{ drop_relation_if_exists(load_cached_relation(temp_relation)) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main', language=language) -%}
    {{- create_table_as(False, temp_relation, compiled_code, language) }}
  {%- endcall %}
  {% if existing_relation is not none %}
    {{ adapter.drop_relation(existing_relation) }}
  {% endif %}
  {{ adapter.rename_relation(temp_relation, target_relation) }}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}

  {% do store_relation('lake', target_relation, lake_location(), 'delta', config) %}

  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
