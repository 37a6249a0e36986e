"""Shared by the byte-identity tests: every file under a folder, by relative path."""
import os
from typing import Dict


def file_bytes(output: str) -> Dict[str, bytes]:
    found = {}
    for directory, _, files in os.walk(output):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                found[os.path.relpath(os.path.join(directory, name), output)] = f.read()
    return found
