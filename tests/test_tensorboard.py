"""The environment's TensorBoard serves a run's scalars (README: `tensorboard --logdir <pipeline root>`)."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

TENSORBOARD = os.path.join(os.path.dirname(sys.executable), "tensorboard")


def test_tensorboard_serves_the_scalar_tags(tmp_path):
    import tensorflow as tf

    with tf.summary.create_file_writer(str(tmp_path / "DomainTransfer" / "rounds")).as_default():
        for step in range(3):
            tf.summary.scalar("kept_images", 10.0 - step, step=step)
    server = subprocess.Popen([TENSORBOARD, "--logdir", str(tmp_path), "--host", "127.0.0.1", "--port", "0",
                               "--reload_interval", "1"], stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in server.stderr:  # "TensorBoard 2.16.2 at http://127.0.0.1:PORT/ (Press CTRL+C to quit)"
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "TensorBoard did not start"
        tags = {}
        for _ in range(60):
            with urllib.request.urlopen(url + "data/plugin/scalars/tags", timeout=10) as response:
                tags = json.load(response)
            if tags:
                break
            time.sleep(1)
        assert "kept_images" in tags.get("DomainTransfer/rounds", {}), tags
    finally:
        server.terminate()
        server.wait(timeout=30)
