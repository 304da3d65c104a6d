"""Spark session factory: embedded Sail by default, JVM local mode, or any Spark Connect server.

The rest of the code base only uses the DataFrame/SQL API, so the same jobs run on all three. Choose with
``CDP_SPARK_REMOTE=sc://host:port`` (wins) or ``CDP_SPARK_ENGINE=sail|jvm``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

from pyspark.sql import SparkSession

from cdp.settings import Settings

log = logging.getLogger(__name__)

_sail_lock = threading.Lock()
_sail_server = None  # one embedded Sail server per process; it starts in well under a second
EMBEDDED_SESSION_IDLE_SECONDS = 24 * 3600
DATAFRAME_DEBUGGING = "spark.python.sql.dataFrameDebugging.enabled"


def _sail_address() -> str:
    global _sail_server
    with _sail_lock:
        if _sail_server is None:
            # Sail logs every session at INFO through RUST_LOG; keep the CLI readable unless asked otherwise.
            os.environ.setdefault("RUST_LOG", "error")
            # Sail drops a session idle for 15 minutes (spark.session_timeout_secs, default 900), and the process's
            # cached session then fails every call ("session ... is not running"): `cdp run` idles that long while
            # dbt builds a large lake. The embedded server serves this process only, so keep sessions for a day.
            os.environ.setdefault("SAIL_SPARK__SESSION_TIMEOUT_SECS", str(EMBEDDED_SESSION_IDLE_SECONDS))
            from pysail.spark import SparkConnectServer

            server = SparkConnectServer("127.0.0.1", 0)
            server.start(background=True)
            atexit.register(server.stop)
            _sail_server = server
        host, port = _sail_server.listening_address
        return f"sc://{host}:{port}"


def _common_conf(builder: SparkSession.Builder, settings: Settings) -> SparkSession.Builder:
    return (
        builder.config("spark.sql.session.timeZone", "UTC")  # every timestamp in the lake is UTC
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.ansi.enabled", "true")  # fail loudly on bad casts; we use try_cast on purpose
        # pyspark records the Python call site of every Column it builds (a stack walk: about 50 against 5 us a
        # column), only to name it in a query error; the identity job builds thousands of columns per run.
        .config(DATAFRAME_DEBUGGING, "false")
    )


def engine_name(settings: Settings) -> str:
    return "remote" if settings.spark_remote else settings.spark_engine


def get_spark(settings: Settings) -> SparkSession:
    """Return the session for the configured engine (created once per process and engine)."""
    if settings.spark_remote:
        return _common_conf(SparkSession.builder.remote(settings.spark_remote), settings).getOrCreate()
    if settings.spark_engine == "sail":
        return _common_conf(SparkSession.builder.remote(_sail_address()), settings).getOrCreate()
    # JVM local mode: pure transforms run here; Delta I/O needs the delta-spark jars, which a cluster provides
    # (spark.jars.packages=io.delta:delta-spark_2.13:4.0.0); this machine has no Maven access.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this venv, not the system python
    # A Spark Connect session created earlier in this process (or a parent's) sets these, and pyspark would then
    # build a Connect session instead of a local JVM one; the engine setting decides, not leftovers.
    for variable in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE"):
        os.environ.pop(variable, None)
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("cdp")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    return _common_conf(builder, settings).getOrCreate()
