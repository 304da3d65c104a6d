{#-
  A model built as a DuckDB table (so tests, contracts and downstream models read it here) and then written to the
  lake as a Delta table at <lake_root>/<lake_layer>/<alias> by the `lake` plugin (marts/duckdb_delta.py).
  Config: lake_layer (default gold), delta_mode (overwrite | append | replace_where | merge), delta_replace_on (the
  column whose values in the new rows name the rows replace_where replaces), unique_key (merge), delta_delete_flag
  (merge: a boolean column of the changed rows that removes the row with its key instead; not stored).
  merge: after the first build (and unless --full-refresh) the model's SQL, guarded by delta_is_incremental(),
  returns only the new or changed rows; they replace the rows with the same unique_key in the DuckDB table and in
  the Delta table (appended when none of their keys is there yet, else a Delta merge), so an unchanged row is
  neither rewritten here nor in the lake.
  delta_duckdb_view (true; not with merge): the DuckDB relation is a view, not a table, for a mart that only copies
  another model (its Delta table is written from the view): writing a second copy of every row into DuckDB cost
  more than the rest of such a node.
  delta_lake_view (true; SQL, overwrite only): the DuckDB relation is a view over the model's Delta table, which is
  written straight from the model's SQL, for a mart that later nodes read but no build merges into: storing,
  compressing and committing a second copy of a million wide rows in DuckDB cost more than its query. The contract's
  check and not_null constraints (DuckDB would enforce them on a table) are tested on the rows as they stream to the
  lake; a row that breaks one fails the node before the Delta commit. The view names the lake path of this build; a
  lake at another path gets a complete build (marts/build_state.py), which writes it again.
  delta_files_of (replace_where): the name of a delta model of the same layer whose Delta table holds exactly this
  relation's rows (e.g. the trait history's snapshot of customer_traits): its Parquet files are linked into this
  table instead of encoding the rows again, when the plugin can check that they hold them.
  The lake write calls adapter.store_relation with no column list: the plugin reads the relation itself, and
  dbt-duckdb's store_relation macro would first list the columns from the catalog (a query and a transaction
  per node).
-#}
{% macro delta_is_incremental() %}
  {%- if not execute -%}{{ return(false) }}{%- endif -%}
  {%- set relation = load_cached_relation(this) -%}
  {{ return(relation is not none and relation.type == 'table' and config.get('delta_mode') == 'merge'
            and not should_full_refresh()) }}
{% endmacro %}

{#- The contract's constraints of this model as SQL conditions every row must meet: check expressions and not_null
    columns (the kinds DuckDB enforces on a table), for a delta_lake_view model, whose rows no DuckDB table holds. -#}
{% macro contract_checks() %}
  {%- set checks = [] -%}
  {%- set found = [] -%}
  {%- for name, column in model['columns'].items() -%}
    {%- for constraint in column.get('constraints', []) -%}
      {%- do found.append((constraint, adapter.quote(name))) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for constraint in model.get('constraints', []) -%}
    {%- do found.append((constraint, none)) -%}
  {%- endfor -%}
  {%- for constraint, column in found -%}
    {%- if constraint['type'] == 'check' -%}
      {%- do checks.append(constraint['expression']) -%}
    {%- elif constraint['type'] == 'not_null' and column is not none -%}
      {%- do checks.append(column ~ ' is not null') -%}
    {%- else -%}
      {{ exceptions.raise_compiler_error('delta_lake_view tests check and not_null constraints only, not '
                                         ~ constraint['type'] ~ ': ' ~ this) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(checks) }}
{% endmacro %}

{% materialization delta, adapter='duckdb', supported_languages=['sql', 'python'] %}
  {%- set language = model['language'] -%}
  {%- set merging = delta_is_incremental() -%}
  {%- set as_view = config.get('delta_duckdb_view', false) -%}
  {%- if as_view and (language != 'sql' or config.get('delta_mode') == 'merge') -%}
    {{ exceptions.raise_compiler_error('delta_duckdb_view is for SQL models that are not merged: ' ~ this) }}
  {%- endif -%}
  {%- set lake_view = config.get('delta_lake_view', false) -%}
  {%- if lake_view and (language != 'sql' or as_view or config.get('delta_mode', 'overwrite') != 'overwrite') -%}
    {{ exceptions.raise_compiler_error('delta_lake_view is for SQL models written with delta_mode overwrite: '
                                       ~ this) }}
  {%- endif -%}
  {%- set target_relation = this.incorporate(type='view' if as_view or lake_view else 'table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set temp_relation = make_intermediate_relation(target_relation, suffix='__dbt_tmp') -%}
  {{ drop_relation_if_exists(load_cached_relation(temp_relation)) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main', language=language) -%}
    {%- if as_view or lake_view -%}
    {{- create_view_as(temp_relation, compiled_code) }}
    {%- else -%}
    {{- create_table_as(False, temp_relation, compiled_code, language) }}
    {%- endif -%}
  {%- endcall %}
  {% if merging %}
    {#- The lake first: if its write fails, the DuckDB table still holds the last build and the next build finds
        the same changes again. -#}
    {%- set key = config.require('unique_key') -%}
    {%- set known = run_query('select count(*) from ' ~ temp_relation ~ ' semi join ' ~ target_relation
                              ~ ' using (' ~ key ~ ')').columns[0].values()[0] -%}
    {{ adapter.commit() }}
    {%- set delete_flag = config.get('delta_delete_flag') -%}
    {% set lake_config = {'delta_mode': 'merge', 'delta_merge_on': key, 'delta_inserts_only': known == 0,
                          'delta_whole_relation': target_relation | string, 'delta_delete_flag': delete_flag} %}
    {% do adapter.store_relation('lake', temp_relation, [], lake_location(), 'delta', lake_config) %}
    {% call statement('merge') -%}
      delete from {{ target_relation }} as target using {{ temp_relation }} as changed
      where target.{{ key }} = changed.{{ key }};
      insert into {{ target_relation }} by name
      {% if delete_flag -%}
      select * exclude ({{ delete_flag }}) from {{ temp_relation }} where not {{ delete_flag }};
      {%- else -%}
      select * from {{ temp_relation }};
      {%- endif %}
      drop table {{ temp_relation }};
    {%- endcall %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
  {% elif lake_view %}
    {{ adapter.commit() }}  {#- the plugin reads the model's view on a cursor of its own -#}
    {% set lake_config = {'delta_mode': 'overwrite', 'delta_checks': contract_checks()} %}
    {% do adapter.store_relation('lake', temp_relation, [], lake_location(), 'delta', lake_config) %}
    {% if existing_relation is not none %}
      {{ adapter.drop_relation(existing_relation) }}
    {% endif %}
    {% call statement('lake_view') -%}
      create view {{ target_relation }} as select * from delta_scan('{{ lake_location() | replace("'", "''") }}');
      drop view {{ temp_relation }};
    {%- endcall %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
  {% else %}
    {% if existing_relation is not none %}
      {{ adapter.drop_relation(existing_relation) }}
    {% endif %}
    {{ adapter.rename_relation(temp_relation, target_relation) }}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {#- merge's first build (and --full-refresh) writes the whole table -#}
    {% set lake_config = {'delta_mode': 'overwrite'} if config.get('delta_mode') == 'merge' else config %}
    {% do adapter.store_relation('lake', target_relation, [], lake_location(), 'delta', lake_config) %}
  {% endif %}

  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
