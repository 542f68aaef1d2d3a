"""Times the seed package's cached ``TokenManager.get_token()`` (ibmcloud_iam 0.1.7) against
an IAM endpoint (the emulator), for ``crates/ibm-iam/benches/token_cache.rs``.

    python bench/seed_token.py URL APIKEY THREADS CALLS

Prints one number: CPU-time per call in nanoseconds, i.e. wall time x min(threads, cores)
/ (threads x calls), the same definition the Rust side uses.
"""

import os
import sys
import threading
import time

from ibmcloud_iam.token import TokenManager


def main() -> None:
    url, apikey, threads, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    tm = TokenManager(apikey, iam_endpoint=url)
    tm.get_token()  # the one real request; everything after is the cache

    def work() -> None:
        for _ in range(calls):
            tm.get_token()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    cores = min(threads, os.cpu_count() or 1)
    print(elapsed * 1e9 * cores / (threads * calls))


if __name__ == "__main__":
    main()
