"""The seed package ``ibmcloud_iam`` 0.1.7, unmodified, against the emulator.

``ibmcloud_iam.token.TokenManager`` is ``redstone.auth.TokenManager``: it posts to
the legacy ``{endpoint}/oidc/token`` with ``Authorization: Basic Yng6Yng=``.
``validate_token`` fetches ``{endpoint}/identity/keys`` through PyJWT 2.4's
``PyJWKClient`` (urllib, so ``SSL_CERT_FILE`` is what makes TLS verify).
"""

import base64
import json

import jwt
import pytest
from ibmcloud_iam.token import TokenManager, validate_token


def _tamper_payload(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return ".".join([header, forged, signature])


def test_user_apikey_token(iam_url, seed_identities, check_iam_token):
    manager = TokenManager(api_key=seed_identities["alice_apikey"], iam_endpoint=iam_url)
    token = manager.get_token()
    claims = check_iam_token(
        token,
        iam_id=seed_identities["alice_iam_id"],
        grant_type=seed_identities["grant_apikey"],
        account_id=seed_identities["account_id"],
    )
    assert "sub_type" not in claims, "user tokens carry no sub_type"


def test_token_response_fields_and_caching(iam_url, seed_identities, jwt_parts):
    # redstone keeps the whole JSON response and re-requests when
    # now >= expiration - 0.2 * expires_in; without both fields it never caches.
    manager = TokenManager(api_key=seed_identities["alice_apikey"], iam_endpoint=iam_url)
    first = manager.get_token()
    info = dict(manager._token_info)
    assert info.get("token_type") == "Bearer", info.keys()
    assert isinstance(info.get("expires_in"), int) and info["expires_in"] > 0, info.get("expires_in")
    assert isinstance(info.get("expiration"), int), info.get("expiration")
    assert info["expiration"] == jwt_parts(first)["claims"]["exp"]
    assert not manager.is_token_expired()
    assert manager.get_token() == first, "a fresh token must be served from the cache"


def test_trailing_slash_endpoint(iam_url, seed_identities, check_iam_token):
    manager = TokenManager(api_key=seed_identities["alice_apikey"], iam_endpoint=iam_url + "/")
    check_iam_token(
        manager.get_token(),
        iam_id=seed_identities["alice_iam_id"],
        grant_type=seed_identities["grant_apikey"],
    )


def test_validate_token_user(iam_url, seed_identities):
    token = TokenManager(api_key=seed_identities["alice_apikey"], iam_endpoint=iam_url).get_token()
    claims = validate_token(token, iam_url)
    assert claims["iam_id"] == seed_identities["alice_iam_id"]
    assert claims["account"]["bss"] == seed_identities["account_id"]
    assert claims["grant_type"] == seed_identities["grant_apikey"]


def test_validate_token_service_id(iam_url, seed_identities):
    token = TokenManager(api_key=seed_identities["books_apikey"], iam_endpoint=iam_url).get_token()
    claims = validate_token(token, iam_url)
    assert claims["iam_id"] == seed_identities["books_iam_id"]
    assert claims["sub"] == seed_identities["books_service_id"]
    assert claims["sub_type"] == "ServiceId"
    assert claims["account"]["bss"] == seed_identities["account_id"]


def test_cli_apikey_identity(emulator, iam_url, check_iam_token, jwt_parts):
    token = TokenManager(api_key=emulator.apikey, iam_endpoint=iam_url).get_token()
    claims = jwt_parts(token)["claims"]
    assert claims["iam_id"].startswith("iam-ServiceId-"), claims
    check_iam_token(token, iam_id=claims["iam_id"], grant_type="urn:ibm:params:oauth:grant-type:apikey")
    assert validate_token(token, iam_url)["iam_id"] == claims["iam_id"]


def test_validate_rejects_tampered_token(iam_url, seed_identities):
    token = TokenManager(api_key=seed_identities["alice_apikey"], iam_endpoint=iam_url).get_token()
    forged = _tamper_payload(token, iam_id="IBMid-000000EVIL")
    with pytest.raises(jwt.InvalidSignatureError):
        validate_token(forged, iam_url)


def test_wrong_apikey_raises(iam_url):
    manager = TokenManager(api_key="not-a-real-apikey-0123456789abcdefghijkl", iam_endpoint=iam_url)
    with pytest.raises(Exception, match="Error getting token") as failure:
        manager.get_token()
    # redstone puts IAM's error body in the message: an OIDC error with errorCode.
    body = str(failure.value).split("Error getting token: ", 1)[1]
    assert json.loads(body)["errorCode"] == "BXNIM0415E", body
    assert manager._token_info == {}, "a failed request must not cache anything"
