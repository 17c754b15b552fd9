# SPDX-License-Identifier: MIT
"""Storage probe for the latency scenarios (bench.py): writes 8 KiB and calls fdatasync
every 2 ms on a file in DIR for SECONDS, then prints JSON: the number of flushes, their
p50/p99/max in ms and how many took over 20 ms. A commit waits for such a flush, so an event's
latency can be no better than the flushes during its two commits (ingest and claim).

    fsync_probe.py DIR SECONDS
"""
import json
import os
import sys
import time


def main():
    path = os.path.join(sys.argv[1], 'fsync_probe.dat')
    end = time.monotonic() + float(sys.argv[2])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    buf, lat, i = b'x' * 8192, [], 0
    try:
        while time.monotonic() < end:
            t = time.monotonic()
            os.pwrite(fd, buf, (i % 1024) * 8192)
            os.fdatasync(fd)
            lat.append(time.monotonic() - t)
            i += 1
            time.sleep(0.002)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    ms = [x * 1000 for x in lat]
    print(json.dumps({'flushes': len(ms), 'p50_ms': round(ms[len(ms) // 2], 2),
                      'p99_ms': round(ms[int(len(ms) * 0.99)], 1), 'max_ms': round(ms[-1], 1),
                      'over_20ms': sum(1 for x in ms if x > 20)}))


if __name__ == '__main__':
    main()
