"""The audiences' holdout draw (marts.audiences.holdout_draw) is md5_number(key) % 10000 for every key: the same
per (audience, person) as before it was computed from the hash's 64-bit halves."""

from __future__ import annotations

import duckdb

from marts.audiences import holdout_draw


def test_holdout_draw_equals_the_128_bit_modulo() -> None:
    con = duckdb.connect()
    keys = con.execute(
        f"""with keys as (
            select name || ':' || id as key
            from (values ('lapsed_buyers'), ('high_clv_at_risk'), (''), ('é ä')) as names(name),
                 (select 'cus_' || lpad(printf('%x', i), 16, '0') as id from range(20000) t(i)
                  union all values (''), ('0'), ('ünïcode'), (repeat('x', 300))) as ids
        )
        select count(*), count(*) filter (where {holdout_draw("key")} <> md5_number(key) % 10000),
               min({holdout_draw("key")}), max({holdout_draw("key")})
        from keys"""
    ).fetchone()
    assert keys == (80016, 0, 0, 9999)
