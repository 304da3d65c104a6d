-- The audience definitions in force (from dbt_project/audiences/*.yml), for activation and the console.
select
    *,
    {{ as_of() }} as compiled_as_of
from {{ ref('int_audiences__definitions') }}
