"""Times the seed package's ``PDPClient.is_authorized`` (ibmcloud_iam 0.1.7) against an IAM
endpoint (the emulator over HTTPS: the seed refuses plain http), for
``crates/ibm-iam/benches/decisions.rs``.

    python bench/seed_pdp.py URL SERVICE_APIKEY SUBJECT_ID ACCOUNT CHECKS

Prints one number: checks per second. The seed calls ``/v2/authz`` once per check.
"""

import sys
import time

from ibmcloud_iam.pdp import PDPClient


def main() -> None:
    url, apikey, subject_id, account, checks = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    pdp = PDPClient(apikey, iam_endpoint=url)
    subject = {"attributes": {"id": subject_id, "scope": "ibm openid"}}
    resource = {"attributes": {"serviceName": "books", "accountId": account, "serviceInstance": "seed"}}
    pdp.is_authorized(subject, "books.book.read", resource)  # warm up: token, connection
    start = time.perf_counter()
    for _ in range(checks):
        pdp.is_authorized(subject, "books.book.read", resource)
    print(checks / (time.perf_counter() - start))


if __name__ == "__main__":
    main()
