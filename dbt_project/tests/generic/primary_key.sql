{#-
  A primary key: every key unique and none null, in one query (a column, or `columns` for a composite key). Each
  failing row is one key: `rows_with_key` > 1 for a duplicate, a null in a key column for a missing key. dbt's
  `unique` + `not_null` pair checked the same in two nodes and two scans; a build pays dbt's own cost per node.
-#}
{% test primary_key(model, column_name=none, columns=none) %}
{%- set keys = columns if columns else [column_name] -%}
select {{ keys | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ keys | join(', ') }}
having count(*) > 1
{%- for key in keys %} or {{ key }} is null{% endfor %}
{% endtest %}
