"""The embedded Sail server must not drop the process's session while it idles (e.g. during a long dbt build)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, sys, time
import cdp.spark
if sys.argv[1] != "default":
    cdp.spark.EMBEDDED_SESSION_IDLE_SECONDS = int(sys.argv[1])
from cdp.settings import Settings
spark = cdp.spark.get_spark(Settings())
spark.range(1).count()
time.sleep(4)
print(os.environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"])
try:
    print(spark.range(3).count())
except Exception as error:
    print(type(error).__name__)
"""


def idle_then_query(idle_limit: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "SAIL_SPARK__SESSION_TIMEOUT_SECS"}
    env["CDP_SPARK_ENGINE"] = "sail"
    env.pop("CDP_SPARK_REMOTE", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, idle_limit], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    return done.stdout.split()


def test_the_idle_limit_is_what_sail_enforces():
    # A 2-second limit kills the session after 4 idle seconds: the setting reaches the server.
    assert idle_then_query("2") == ["2", "IllegalArgumentException"]


def test_the_embedded_session_survives_idling():
    assert idle_then_query("default") == ["86400", "3"]
