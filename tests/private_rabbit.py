"""A private RabbitMQ node (own node name, ports and data directory) that a test may stop and start."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRabbit:
    """`rabbitmq-server -detached` with everything of its own; never touches the shared node."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kr_mq_"))
        self.node = f"kr_{uuid.uuid4().hex[:8]}@localhost"
        self.port = _free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (self.dir / "enabled_plugins").write_text("[].\n")
        # The machine's own rabbitmq.conf names port 5672; ours replaces it.
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        if os.geteuid() == 0:
            # Debian's rabbitmq-server re-runs itself as the rabbitmq user, who must own the data.
            for path in (self.dir, self.dir / "enabled_plugins", self.dir / "rabbitmq.conf"):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(_free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
        }

    def _ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.node, *args], env=self.env, check=True,
                       capture_output=True, timeout=timeout)

    def start(self) -> None:
        """Start the node and wait until it serves."""
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True,
                       capture_output=True, timeout=60)
        self._ctl("wait", "--timeout", "90", str(self.dir / "pid"))
        self._ctl("await_startup")

    def stop(self) -> None:
        """Stop the node; its durable queues and persistent messages stay on disk."""
        self._ctl("stop")

    def destroy(self) -> None:
        """Stop if running and delete its data."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._ctl("stop", timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
