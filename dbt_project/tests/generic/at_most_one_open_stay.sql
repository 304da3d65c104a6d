{# An audience membership history never has two open stays for the same audience and person. #}
{% test at_most_one_open_stay(model) %}
select audience_name, customer_id, count(*) as open_stays
from {{ model }}
where exited_at is null
group by audience_name, customer_id
having count(*) > 1
{% endtest %}
