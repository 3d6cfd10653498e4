"""Run bagit-python's `make_bag` in a child process (`python -m archiver.package._bagit_child`).

Why a child: `bagit.make_bag` and `Bag.save` call `os.chdir`, which changes the working
directory of the whole process. Lessons are packaged on parallel threads and the output folder
is often a relative path, so a chdir in one thread would send another thread's writes to the
wrong place. In a child process the chdir harms nobody.

Input (JSON on stdin): {"bag_dir", "bag_info", "checksums"}. The staging folder becomes a bag
in place; the parent then adds the `premis-events.jsonl` tag file (`bag.append_premis_events`).
"""

from __future__ import annotations

import json
import os
import sys

import bagit


def main() -> int:
    job = json.load(sys.stdin)
    bag_dir = job["bag_dir"]
    os.chdir(bag_dir)
    bagit.make_bag(bag_dir, job["bag_info"], processes=1, checksums=job["checksums"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
