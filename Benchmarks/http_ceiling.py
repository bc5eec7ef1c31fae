"""What Axon's HTTP pipeline costs per request against the hello-world ceiling (issue 18).

Sends the same number of keep-alive GETs, one connection per worker, to each target and
reports the server's CPU per request (schedstat, every thread; see server_cpu.py) and the
requests per second. A target is NAME=URL@PID, for example
  hello=http://127.0.0.1:18600/hello@1234
  versions=http://127.0.0.1:8008/_matrix/client/versions@5678
  whoami=http://127.0.0.1:8008/_matrix/client/v3/account/whoami@5678
and --token sets the bearer token sent with every request (ignored by the hello server).
Run each target on an otherwise idle machine; compare ratios from one run only.
"""
import argparse
import http.client
import threading
import time
import urllib.parse

from server_cpu import cpu_ns


def drive(url, count, token):
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    path = parsed.path + ("?" + parsed.query if parsed.query else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(count):
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status}")
    connection.close()


def measure(url, pid, requests, workers, token):
    drive(url, 200, token)  # warm: connections, caches, the allocator
    per_worker = requests // workers
    threads = [threading.Thread(target=drive, args=(url, per_worker, token)) for _ in range(workers)]
    cpu_before, started = cpu_ns(pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, cpu_ns(pid) - cpu_before
    total = per_worker * workers
    return cpu / total / 1000, total / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", help="NAME=URL@PID")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    results = []
    for target in args.targets:
        name, rest = target.split("=", 1)
        url, pid = rest.rsplit("@", 1)
        results.append((name, *measure(url, int(pid), args.requests, args.workers, args.token)))
    ceiling = results[0][1]
    print(f"{'target':<12} {'server CPU µs/request':>22} {'× first':>8} {'requests/s':>11}")
    for name, cpu_us, rate in results:
        print(f"{name:<12} {cpu_us:>22.1f} {cpu_us / ceiling:>8.2f} {rate:>11.0f}")


if __name__ == "__main__":
    main()
