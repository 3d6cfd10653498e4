"""What `--cluster` and `--scheduler` accept (checked before anything starts)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

LOCAL = re.compile(r"local:(\d{1,3})")
ADDRESS = re.compile(r"(tcp|tls|ucx|inproc)://[^\s/]+(:\d+)?/?|[A-Za-z0-9.\-\[\]:]+:\d+")


@dataclass(frozen=True)
class ClusterSpec:
    """Either the address of a running scheduler, or a LocalCluster of `workers` processes."""

    scheduler: str | None = None
    workers: int = 0

    def describe(self) -> str:
        return self.scheduler or f"a local cluster of {self.workers} worker processes"


def local_cluster(text: str) -> ClusterSpec:
    """argparse type of `--cluster`: `local:N`, N worker processes (1..256)."""
    match = LOCAL.fullmatch(text)
    if match is None or not 1 <= int(match.group(1)) <= 256:
        raise argparse.ArgumentTypeError(
            f"expected local:N with N worker processes (1 to 256), got {text!r}")
    return ClusterSpec(workers=int(match.group(1)))


def scheduler_address(text: str) -> ClusterSpec:
    """argparse type of `--scheduler`: a scheduler address such as tcp://10.0.0.5:8786."""
    if not ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected a scheduler address such as tcp://10.0.0.5:8786, got {text!r}")
    return ClusterSpec(scheduler=text)
