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

{#- The customers whose orders up to as_of can differ from a kept table's last build (last_build_window in a CTE
    named `last_build`, its watermark `orders_ingested_to`): an order placed between the two builds' as_of (either
    way), an order ingested since that build (new, or re-sent with a later status), and both sides of an order record
    that changed customer or left the identity map. Shared by the per-customer order summaries kept between builds. -#}
{% macro orders_rebuild_scope() %}
    -- orders placed between the two as_of values
    select orders.customer_id
    from {{ ref('customer_orders') }} as orders, last_build
    where orders.ordered_at > last_build.from_as_of and orders.ordered_at <= last_build.to_as_of
    union
    -- orders ingested since (new, or re-sent with a later status)
    select orders.customer_id
    from {{ ref('customer_orders') }} as orders
    semi join (
        select unioned.order_key
        from {{ ref('int_orders__unioned') }} as unioned, last_build
        where unioned.ingested_at > last_build.orders_ingested_to
    ) as fresh using (order_key)
    union
    -- records that changed customer (or left the identity map)
    select customer_id from {{ ref('int_identity__record_changes') }}
    where previous_customer_id is distinct from customer_id
    union
    select previous_customer_id from {{ ref('int_identity__record_changes') }}
    where previous_customer_id is distinct from customer_id
{% endmacro %}
