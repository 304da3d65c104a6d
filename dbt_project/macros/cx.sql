{# The dimension a grouping-sets row belongs to ('all', 'touchpoint', 'channel' or 'store') and its value. #}
{% macro cx_dimension_columns() %}
        case
            when grouping(touchpoint) = 0 then 'touchpoint'
            when grouping(channel) = 0 then 'channel'
            when grouping(store_id) = 0 then 'store'
            else 'all'
        end as dimension,
        case
            when grouping(touchpoint) = 0 then touchpoint
            when grouping(channel) = 0 then channel
            when grouping(store_id) = 0 then store_id
            else 'all'
        end as dimension_value
{%- endmacro %}
