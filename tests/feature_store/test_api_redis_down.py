"""Redis down: the API answers a clear 503 while it is gone and serves again as soon as it is back.

A private Redis server (its own port and folder) is stopped and restarted, so the shared one is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from cdp.lake import Lake
from feature_store.api import create_app
from feature_store.auth import digest
from tests.feature_store.conftest import open_features, store_settings
from tests.feature_store.test_api import ANA, AS_OF, write_lake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
        self.binary, self.folder, self.port = binary, folder, _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private Redis did not start")

    def stop(self) -> None:
        assert self.process is not None
        redis.Redis(port=self.port).save()  # keep the data, as a persistent production Redis would
        self.process.terminate()
        self.process.wait(timeout=10)


def test_redis_down_answers_503_and_recovers(tmp_path):
    server = PrivateRedis(tmp_path)
    lake = Lake(tmp_path / "lake")
    write_lake(lake)
    settings = store_settings(
        lake, "prod", redis_url=f"redis://127.0.0.1:{server.port}/0", api_keys={digest("k"): ["profiles:read"]}
    )
    try:
        server.start()
        for features in open_features(settings):
            features.apply()
            features.materialize(AS_OF)
            with TestClient(create_app(settings, features)) as client:
                assert client.get(f"/v1/profiles/{ANA}", headers={"X-API-Key": "k"}).status_code == 200

                server.stop()
                down = client.get(f"/v1/profiles/{ANA}", headers={"X-API-Key": "k"})
                health = client.get("/v1/health")

                assert down.status_code == 503
                assert down.json()["error"] == "online_store_unavailable"
                assert "retry" in down.json()["message"]
                assert health.status_code == 503

                server.start()
                back = client.get(f"/v1/profiles/{ANA}", headers={"X-API-Key": "k"})

                assert back.status_code == 200
                assert back.json()["traits"]["value_segment"] == "loyal"
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
            server.process.wait(timeout=10)
