"""Start the environment's TensorBoard on a log folder and read what its HTTP API serves."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from typing import Callable, Dict, Iterator, List

TENSORBOARD = os.path.join(os.path.dirname(sys.executable), "tensorboard")


@contextlib.contextmanager
def serving(logdir: str) -> Iterator[str]:
    """``tensorboard --logdir logdir`` on a free loopback port; yields its base URL."""
    server = subprocess.Popen([TENSORBOARD, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0",
                               "--reload_interval", "1"], stderr=subprocess.PIPE, text=True)
    try:
        url, seen = None, []
        for line in server.stderr:  # "TensorBoard 2.16.2 at http://127.0.0.1:PORT/ (Press CTRL+C to quit)"
            seen.append(line)
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "TensorBoard did not start:\n" + "".join(seen[-30:])
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def get(url: str, path: str, **query) -> object:
    with urllib.request.urlopen(url + path + ("?" + urllib.parse.urlencode(query) if query else ""),
                                timeout=30) as response:
        return json.load(response)


def scalar_tags(url: str, ready: Callable[[Dict[str, Dict]], bool] = bool,
                attempts: int = 120) -> Dict[str, Dict]:
    """``{run: {tag: ...}}`` of the scalars plugin, once ``ready(tags)`` holds (TensorBoard loads
    event files in the background) or after ``attempts`` one-second polls; the caller asserts."""
    tags: Dict[str, Dict] = {}
    for _ in range(attempts):
        tags = get(url, "data/plugin/scalars/tags")
        if ready(tags):
            break
        time.sleep(1)
    return tags


def scalars(url: str, run: str, tag: str) -> List[List[float]]:
    """``[[wall_time, step, value], ...]`` of one run's tag."""
    return get(url, "data/plugin/scalars/scalars", run=run, tag=tag)
