"""Server CPU as the benchmarks measure it: on-CPU nanoseconds of every thread of a process
and of its descendants (schedstat), not /proc/PID/stat's 10 ms ticks, so one request's cost
can be read. Several roots may be given: the server and its PostgreSQL postmaster, whose
backends are its children."""
import os


def _children():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    return children


def _threads_ns(pid):
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_ns(*pids):
    """On-CPU nanoseconds of every thread of the processes and their descendants. A
    descendant that exits between two readings takes its time with it, so measure around
    requests, not across connection pools that close."""
    children = _children()
    total, pending, seen = 0, list(pids), set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _threads_ns(pid)
        pending += children.get(pid, [])
    return total
