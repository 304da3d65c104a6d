"""The Python side of the dbt marts (``dbt_project/``): DuckDB's Delta plugin, source tables, the audience compiler,
the CLV fit and the build runner. The SQL itself lives in ``dbt_project/``."""
