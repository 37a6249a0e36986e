"""Shared by the tests: every file under a folder, by relative path; a file named in Latin-1."""
import os
from typing import Dict


def file_bytes(output: str) -> Dict[str, bytes]:
    found = {}
    for directory, _, files in os.walk(output):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                found[os.path.relpath(os.path.join(directory, name), output)] = f.read()
    return found


def latin1_file(folder: str, data: bytes) -> str:
    """``folder/café.jpg`` named in Latin-1 (an old crawl's name), as the OS lists it (a surrogate
    escape in the str); skips the test where the file system takes UTF-8 names only."""
    import pytest

    path = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        pytest.skip(f"this file system refuses a name that is not UTF-8: {e}")
    return os.fsdecode(path)
