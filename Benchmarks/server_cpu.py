"""Server CPU as the benchmarks measure it: on-CPU nanoseconds of every thread of a process
(schedstat), not /proc/PID/stat's 10 ms ticks, so one request's cost can be read."""
import os


def cpu_ns(pid):
    """On-CPU nanoseconds of every thread of the process."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total
