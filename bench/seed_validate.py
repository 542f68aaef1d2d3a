"""Times the seed package's ``ibmcloud_iam.token.validate_token`` against an IAM endpoint
(the emulator), for ``crates/ibm-iam/benches/verify.rs``.

    python bench/seed_validate.py URL TOKEN CALLS

Prints one number: validations per second. The seed fetches ``/identity/keys`` at every
call, so this measures that round trip plus PyJWT's RS256 check.
"""

import sys
import time

from ibmcloud_iam.token import validate_token


def main() -> None:
    url, token, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    validate_token(token, url)  # warm up: imports, connection setup
    start = time.perf_counter()
    for _ in range(calls):
        validate_token(token, url)
    print(calls / (time.perf_counter() - start))


if __name__ == "__main__":
    main()
