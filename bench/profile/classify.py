#!/usr/bin/env python3
"""Bucket a perf profile's self time by component (issue 11, deliverable 3).

    classify.py ROLE FILE.data [FILE.data ...]

Reads `perf report --no-children --sort dso,sym` for each file, sums the
sample share of every symbol into one bucket per component (first matching
rule wins), and prints one line per bucket, largest first. Several files
(the workers) are averaged weighted by their sample counts.
"""
import re
import subprocess
import sys
from collections import Counter

RULES = [
    ("scheduling/wake-ups (futex, epoll, context switches)", r"futex|epoll|sched_|__schedule|finish_task_switch|_raw_spin_unlock|try_to_wake_up|syscall_exit|do_syscall|entry_SYSCALL|poll_schedule|pthread_cond|park"),
    ("kernel TCP/loopback", r"tcp_|ip_|softirq|__dev_queue|net_rx|loopback|skb|sock_|__sys_sendto|__sys_recvfrom|copy_user|_copy_to_iter|_copy_from_iter"),
    ("kernel fsync/filesystem", r"iowrite|virtio|ext4|jbd2|fsync|blk_|writeback|file_write|vfs_|filemap"),
    ("ed25519/curve25519", r"ed25519|curve25519|scalar|edwards|montgomery"),
    ("sha2/hmac", r"sha2|Sha256|sha256|hmac|compress256"),
    ("sqlite", r"sqlite3|rusqlite"),
    ("automerge", r"automerge|hexane"),
    ("zeromq (zmq.rs) + codec", r"zeromq|zmq|asynchronous_codec|bytes::"),
    ("tokio runtime + channels", r"tokio|mio::|futures_channel|futures_util|clock_gettime|rseq"),
    ("JSON (serde_json)", r"serde_json|serde::"),
    ("malloc/free/memcpy", r"malloc|free|realloc|_int_|memcpy|memmove|memset|cfree|calloc|__libc_"),
    ("SipHash/hashring", r"sip|SipHasher|hashring|Hasher|hash_one"),
    ("Rust collections/alloc", r"alloc::|__rust_|hashbrown|btree"),
    ("shoplist code", r"engine::|cloud::|shoplist|net::|cli::"),
]

LINE = re.compile(r"^\s*([0-9.]+)%\s+\S+\s+\[(.)\]\s+(.*)$")


def buckets(path):
    out = subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--sort", "dso,sym",
         "--stdio", "-g", "none", "--percent-limit", "0"],
        capture_output=True, text=True, check=False)
    samples = 0
    # The event count of cpu-clock is CPU time in ns: the weight of this file.
    n = re.search(r"# Event count \(approx\.\): (\d+)", out.stdout)
    if n:
        samples = int(n.group(1))
    shares = Counter()
    for line in out.stdout.splitlines():
        hit = LINE.match(line)
        if not hit:
            continue
        pct, kind, sym = float(hit.group(1)), hit.group(2), hit.group(3)
        bucket = "other"
        for name, rule in RULES:
            if re.search(rule, sym):
                bucket = name
                break
        if bucket == "other" and kind == "k":
            bucket = "kernel (other)"
        shares[bucket] += pct
    return samples, shares


def main():
    role, files = sys.argv[1], sys.argv[2:]
    total = Counter()
    weight = 0
    for f in files:
        n, shares = buckets(f)
        for k, v in shares.items():
            total[k] += v * n
        weight += n
    if weight == 0:
        print(f"{role}: no samples")
        return
    parts = [f"{k} {v / weight:.0f}%" for k, v in total.most_common() if v / weight >= 1]
    print(f"{role} ({weight / 1e9:.1f} s of CPU in {len(files)} process(es)): " + ", ".join(parts))


if __name__ == "__main__":
    main()
