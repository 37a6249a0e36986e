"""How many cores this process may use: thread pools size themselves by it."""
import os


def usable_cores() -> int:
    """Cores this process may run on (affinity / cgroup cpusets), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
