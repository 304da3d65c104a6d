"""CDP_SPARK_REMOTE points the same code at any Spark Connect server: here a Sail server started on its own port,
reached through the remote path of the session factory (not the embedded one)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVER = """
import sys
from pysail.spark import SparkConnectServer
server = SparkConnectServer("127.0.0.1", 0)
server.start(background=True)
print("%s:%d" % server.listening_address, flush=True)
sys.stdin.read()  # run until the test closes stdin
"""


@pytest.fixture(scope="module")
def remote_url():
    # Its own process, as a cluster would be: nothing is shared with the test's embedded server.
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    address = server.stdout.readline().strip()
    yield f"sc://{address}"
    server.stdin.close()
    server.wait(timeout=30)


def test_the_factory_connects_to_a_remote_spark_connect_server(remote_url):
    script = f"""
import json
import cdp.spark
from cdp.settings import Settings
from cdp.spark import engine_name, get_spark
from ingest.contracts import SURVEY_RESPONSES
from ingest.framing import FRAMED_SCHEMA
from ingest.validation import validate
settings = Settings(spark_remote={remote_url!r})
spark = get_spark(settings)
record = json.dumps({{"response_id": "r1", "survey_type": "CSAT", "score": "9", "responded_at": "2025-01-01"}})
framed = spark.createDataFrame([(0, "s.csv", "c", 2, record, None, None)], FRAMED_SCHEMA)
row = validate(framed, SURVEY_RESPONSES).collect()[0]
embedded = cdp.spark._sail_server is not None  # the remote path must not start a local server
print(json.dumps({{"engine": engine_name(settings), "embedded": embedded, "errors": [e.reason for e in row._errors]}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "engine": "remote",
        "embedded": False,
        "errors": ["score out of range for the survey type (NPS 0-10, CSAT 1-5, CES 1-7)"],
    }
