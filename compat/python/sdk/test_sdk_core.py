"""IBM's official ``ibm-cloud-sdk-core`` authenticators, unmodified, against the emulator.

Both authenticators post a form to ``{url}/identity/token`` without a Basic
client header; the SDK reads expiry from the JWT's ``exp``/``iat``.
"""

import pytest
from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import ContainerAuthenticator, IAMAuthenticator

BOOKS_SA_CLAIMS = {"namespace": "books", "sub": "system:serviceaccount:books:default"}
OTHER_SA_CLAIMS = {"namespace": "other", "sub": "system:serviceaccount:other:default"}


def test_iam_authenticator_user_token(iam_url, seed_identities, check_iam_token):
    authenticator = IAMAuthenticator(seed_identities["alice_apikey"], url=iam_url)
    token = authenticator.token_manager.get_token()
    check_iam_token(
        token,
        iam_id=seed_identities["alice_iam_id"],
        grant_type=seed_identities["grant_apikey"],
        account_id=seed_identities["account_id"],
    )
    info = authenticator.token_manager.token_info
    assert info.get("token_type") == "Bearer", info.keys()
    assert isinstance(info.get("expires_in"), int), info.get("expires_in")
    # Served from the cache while fresh.
    assert authenticator.token_manager.get_token() == token


def test_iam_authenticator_sets_bearer_header(iam_url, seed_identities, jwt_parts):
    authenticator = IAMAuthenticator(seed_identities["books_apikey"], url=iam_url)
    request = {"headers": {}}
    authenticator.authenticate(request)
    header = request["headers"].get("Authorization", "")
    assert header.startswith("Bearer "), header[:20]
    claims = jwt_parts(header[len("Bearer "):])["claims"]
    assert claims["iam_id"] == seed_identities["books_iam_id"]
    assert claims["sub_type"] == "ServiceId"


def test_iam_authenticator_url_with_operation_path(iam_url, seed_identities, check_iam_token):
    # The SDK strips a trailing /identity/token from the configured URL.
    authenticator = IAMAuthenticator(seed_identities["alice_apikey"], url=iam_url + "/identity/token")
    check_iam_token(
        authenticator.token_manager.get_token(),
        iam_id=seed_identities["alice_iam_id"],
        grant_type=seed_identities["grant_apikey"],
    )


def test_iam_authenticator_with_scope_and_client(iam_url, seed_identities, check_iam_token):
    # Optional extras a real caller may set: Basic client credentials and a scope.
    authenticator = IAMAuthenticator(
        seed_identities["alice_apikey"], url=iam_url, client_id="bx", client_secret="bx", scope="ibm openid"
    )
    claims = check_iam_token(
        authenticator.token_manager.get_token(),
        iam_id=seed_identities["alice_iam_id"],
        grant_type=seed_identities["grant_apikey"],
    )
    assert "ibm" in claims.get("scope", "").split(), claims.get("scope")


def test_iam_authenticator_wrong_apikey(iam_url):
    authenticator = IAMAuthenticator("not-a-real-apikey-0123456789abcdefghijkl", url=iam_url)
    with pytest.raises(ApiException) as failure:
        authenticator.token_manager.get_token()
    assert failure.value.status_code == 400, failure.value
    body = failure.value.http_response.json()
    assert body["errorCode"] == "BXNIM0415E", body
    assert failure.value.message == body["errorMessage"]


@pytest.mark.parametrize("by", ["profile_name", "profile_id", "both"])
def test_container_authenticator(iam_url, seed_identities, cr_token_file, check_iam_token, by):
    path = cr_token_file(BOOKS_SA_CLAIMS)
    kwargs = {}
    if by in ("profile_name", "both"):
        kwargs["iam_profile_name"] = seed_identities["books_profile_name"]
    if by in ("profile_id", "both"):
        kwargs["iam_profile_id"] = seed_identities["books_profile_id"]
    authenticator = ContainerAuthenticator(cr_token_filename=str(path), url=iam_url, **kwargs)
    token = authenticator.token_manager.get_token()
    claims = check_iam_token(
        token,
        iam_id=seed_identities["books_profile_iam_id"],
        grant_type=seed_identities["grant_cr_token"],
        account_id=seed_identities["account_id"],
    )
    assert claims.get("sub_type") == "Profile", claims
    assert claims.get("sub") == seed_identities["books_profile_id"], claims

    request = {"headers": {}}
    authenticator.authenticate(request)
    assert request["headers"]["Authorization"] == "Bearer " + token


def test_container_authenticator_refuses_other_namespace(iam_url, seed_identities, cr_token_file):
    path = cr_token_file(OTHER_SA_CLAIMS)
    authenticator = ContainerAuthenticator(
        cr_token_filename=str(path), iam_profile_name=seed_identities["books_profile_name"], url=iam_url
    )
    with pytest.raises(ApiException) as failure:
        authenticator.token_manager.get_token()
    assert 400 <= failure.value.status_code < 500, failure.value
    assert authenticator.token_manager.access_token is None


def test_container_authenticator_refuses_unknown_profile(iam_url, cr_token_file):
    path = cr_token_file(BOOKS_SA_CLAIMS)
    authenticator = ContainerAuthenticator(
        cr_token_filename=str(path), iam_profile_name="no-such-profile", url=iam_url
    )
    with pytest.raises(ApiException) as failure:
        authenticator.token_manager.get_token()
    assert 400 <= failure.value.status_code < 500, failure.value


def test_container_authenticator_refuses_forged_cr_token(iam_url, seed_identities, cr_token_file, tmp_path):
    genuine = cr_token_file(BOOKS_SA_CLAIMS).read_text()
    header, payload, signature = genuine.split(".")
    forged = tmp_path / "forged-cr-token"
    # Keep the header and payload, break the signature.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged.write_text(".".join([header, payload, flipped]))
    authenticator = ContainerAuthenticator(
        cr_token_filename=str(forged), iam_profile_id=seed_identities["books_profile_id"], url=iam_url
    )
    with pytest.raises(ApiException) as failure:
        authenticator.token_manager.get_token()
    assert 400 <= failure.value.status_code < 500, failure.value
