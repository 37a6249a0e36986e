"""bench/domain_transfer_scale.py: a failed child is reported by the error its own JSON line names."""


def test_a_failed_child_is_reported_by_its_json_error_not_by_stderr_s_last_line():
    """The parent took the child's last stderr line, which can be TensorFlow's noise at exit
    ("TypeError: 'NoneType' object is not subscriptable") printed after the real error."""
    from bench import domain_transfer_scale as bench

    stdout = 'progress\n{"bench": "domain_transfer_scale", "error": "MemoryError: 1000000 frames"}\n'
    assert bench._json_error(stdout) == "MemoryError: 1000000 frames"
    assert bench._json_error("not json\n") == ""
    assert bench._json_error("") == ""
    assert bench._json_error('{"frames": 10}\n') == ""
