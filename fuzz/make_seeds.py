"""Writes the seed corpora under seeds/: IAM-shaped tokens and key sets, the RFC examples,
and known attack shapes. Run with any Python that has `cryptography` (the seed venv does):

    ../target/compat-venvs/seed/bin/python make_seeds.py

The seeds are committed; this script documents where they come from.
"""

import base64
import json
import pathlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = pathlib.Path(__file__).parent
TOKENS = HERE / "seeds" / "token_parser"
KEYSETS = HERE / "seeds" / "jwks_parser"
VECTORS = HERE.parent / "crates" / "ibm-iam" / "tests" / "verify" / "vectors"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
public = key.public_key().public_numbers()
jwk = {"kty": "RSA", "n": uint(public.n), "e": uint(public.e), "alg": "RS256", "kid": "202409020842"}


def sign(header: dict, claims) -> str:
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    p = b64((claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))).encode())
    sig = key.sign(f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{h}.{p}.{b64(sig)}"


claims = {
    "iam_id": "iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
    "id": "iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
    "realmid": "iam",
    "jti": "c4810836-2467-49e6-9612-ad3595de4eb1",
    "identifier": "ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
    "name": "My Service ID",
    "sub": "ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
    "sub_type": "ServiceId",
    "authn": {"sub": "ServiceId-c1e45eff", "iam_id": "iam-ServiceId-c1e45eff", "sub_type": "ServiceId"},
    "account": {"valid": True, "bss": "f71446b6474d45bf81196da45de13940", "frozen": True},
    "iat": 1746519454,
    "exp": 1746523054,
    "iss": "https://iam.cloud.ibm.com/identity",
    "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
    "scope": "ibm openid",
    "client_id": "default",
    "acr": 1,
    "amr": ["pwd"],
}
iam = {"kid": "202409020842", "alg": "RS256"}

tokens = {
    "iam_service_id": sign(iam, claims),
    "iam_user": sign(iam, {**claims, "sub_type": None, "email": "alice@example.com"}),
    "alg_none": sign({"kid": "202409020842", "alg": "none"}, claims).rsplit(".", 1)[0] + ".",
    "hs256": sign({"kid": "202409020842", "alg": "HS256"}, claims),
    "crit": sign({**iam, "crit": ["exp"]}, claims),
    "jku": sign({**iam, "jku": "https://evil.example/keys", "jwk": jwk}, claims),
    "dup_alg": b64(b'{"kid":"k","alg":"RS256","alg":"none"}') + "." + b64(json.dumps(claims).encode()) + ".c2ln",
    "dup_exp": sign(iam, json.dumps(claims)[:-1] + ',"exp":9999999999}'),
    "exp_string": sign(iam, {**claims, "exp": "never"}),
    "escapes": sign(iam, {**claims, "name": "Caf\u00e9 \"quoted\" \\ \n", "iss": "https://iam.cloud.ibm.com/identity"}),
    "floats": sign(iam, {**claims, "exp": 1.7e9, "iat": -1.5, "nbf": 18446744073709551616}),
    "jwe_five": "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.QR1O.AxY8.MKOl.fiK5",
}
for name, token in tokens.items():
    (TOKENS / name).write_text(token)
for name in ("rfc7515_a2", "rfc7520_4_1"):
    vector = json.loads((VECTORS / f"{name}.json").read_text())
    (TOKENS / name).write_text(vector["compact"])
    (KEYSETS / name).write_text(json.dumps({"keys": [vector["key"]]}))

keysets = {
    "iam": {"keys": [jwk]},
    "iam_two": {"keys": [jwk, {**jwk, "kid": "202410010000"}]},
    "mixed": {"keys": [
        {**jwk, "use": "enc"},
        {**jwk, "kid": "ops", "key_ops": ["sign"]},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {**jwk, "kid": "private", "d": "AQAB"},
        {**jwk, "kid": "short", "n": uint(2**1023 + 1)},
        jwk,
    ]},
    "empty": {"keys": []},
}
for name, doc in keysets.items():
    (KEYSETS / name).write_text(json.dumps(doc))
(KEYSETS / "duplicate_member").write_text('{"keys":[],"keys":[' + json.dumps(jwk) + "]}")
print(f"{len(list(TOKENS.iterdir()))} token seeds, {len(list(KEYSETS.iterdir()))} key-set seeds")
