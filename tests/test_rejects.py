"""laf.ingest.rejects: what becomes a rejected record and what fails the run."""
from laf.ingest import rejects


def test_out_of_memory_or_disk_fails_the_run_instead_of_rejecting_the_item():
    """A rejection is cached with the run's output: the machine's fault must not become the input's."""
    import errno

    assert rejects.machine_fault(MemoryError()) and rejects.machine_fault(OSError(errno.ENOSPC, "No space left"))
    assert not rejects.machine_fault(OSError(errno.ENOENT, "No such file")) and not rejects.machine_fault(ValueError())
    import tensorflow as tf

    assert rejects.machine_fault(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"))
    assert not rejects.machine_fault(tf.errors.InvalidArgumentError(None, None, "bad image"))


def test_ffmpeg_s_out_of_memory_on_an_absurd_header_is_the_file_s_fault():
    """PyAV raises FFmpeg's ENOMEM as av.error.MemoryError, a MemoryError: a header claiming 800 M
    timestamps failed the run, and every rerun, instead of rejecting the one video."""
    import av

    assert not rejects.machine_fault(av.error.MemoryError(12, "Cannot allocate memory"))
