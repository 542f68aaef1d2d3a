"""IBM's official ``ibm-platform-services`` IAM Identity client, unmodified, against the emulator.

The service methods return plain dicts; each test also feeds the result through the
SDK's own model ``from_dict`` so that missing required fields or wrong types fail here.
"""

import uuid

import pytest
from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
from ibm_platform_services import IamIdentityV1
from ibm_platform_services.iam_identity_v1 import (
    ApiKey,
    ApiKeyList,
    ServiceId,
    ServiceIdList,
    TrustedProfile,
    TrustedProfilesList,
)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def identity(emulator) -> IamIdentityV1:
    service = IamIdentityV1(authenticator=IAMAuthenticator(emulator.apikey, url=emulator.url))
    service.set_service_url(emulator.url)
    return service


@pytest.fixture(scope="module")
def caller(identity, emulator):
    """The --apikey identity, learnt from the API (a service ID in the emulator's default account)."""
    response = identity.get_api_keys_details(iam_api_key=emulator.apikey)
    assert response.get_status_code() == 200
    return response.get_result()


def test_get_api_keys_details(identity, emulator, caller, jwt_parts):
    model = ApiKey.from_dict(caller)
    assert model.iam_id.startswith("iam-ServiceId-"), caller
    assert model.account_id, caller
    assert model.id and model.crn, caller
    assert model.locked is False, caller
    # The details must describe the same identity that the key's tokens carry.
    token = IAMAuthenticator(emulator.apikey, url=emulator.url).token_manager.get_token()
    claims = jwt_parts(token)["claims"]
    assert claims["iam_id"] == model.iam_id
    assert claims["account"]["bss"] == model.account_id


def test_get_api_keys_details_of_seed_user_key(identity, seed_identities, emulator):
    # A caller of the seed account (Alice herself) may read the key's details...
    alice = IamIdentityV1(authenticator=IAMAuthenticator(seed_identities["alice_apikey"], url=emulator.url))
    alice.set_service_url(emulator.url)
    details = alice.get_api_keys_details(iam_api_key=seed_identities["alice_apikey"]).get_result()
    model = ApiKey.from_dict(details)
    assert model.iam_id == seed_identities["alice_iam_id"]
    assert model.account_id == seed_identities["account_id"]
    assert model.name == "alice-cli"
    # ...a caller from another account (the --apikey service ID) may not.
    with pytest.raises(ApiException) as failure:
        identity.get_api_keys_details(iam_api_key=seed_identities["alice_apikey"])
    assert failure.value.status_code == 403, failure.value


def test_get_api_keys_details_unknown_key(identity):
    with pytest.raises(ApiException) as failure:
        identity.get_api_keys_details(iam_api_key="not-a-real-apikey-0123456789abcdefghijkl")
    assert failure.value.status_code in (400, 404), failure.value


def test_api_key_lifecycle(identity, caller, emulator, check_iam_token):
    iam_id, account_id = caller["iam_id"], caller["account_id"]
    name = _unique("compat-key")

    created = identity.create_api_key(
        name=name, iam_id=iam_id, account_id=account_id, description="created by compat tests"
    )
    assert created.get_status_code() == 201
    key = ApiKey.from_dict(created.get_result())
    assert key.name == name
    assert key.iam_id == iam_id and key.account_id == account_id
    assert key.description == "created by compat tests"
    assert len(key.apikey) >= 32, "create must return the new key's value"
    assert key.apikey != emulator.apikey

    listed = identity.list_api_keys(account_id=account_id, iam_id=iam_id)
    assert listed.get_status_code() == 200
    key_list = ApiKeyList.from_dict(listed.get_result())
    assert key.id in [item.id for item in key_list.apikeys]
    assert all(item.iam_id == iam_id for item in key_list.apikeys)

    fetched = identity.get_api_key(id=key.id)
    assert fetched.get_status_code() == 200
    assert ApiKey.from_dict(fetched.get_result()).name == name

    # The new key authenticates as the same service ID.
    token = IAMAuthenticator(key.apikey, url=emulator.url).token_manager.get_token()
    check_iam_token(token, iam_id=iam_id, grant_type="urn:ibm:params:oauth:grant-type:apikey", account_id=account_id)

    deleted = identity.delete_api_key(id=key.id)
    assert deleted.get_status_code() == 204
    assert deleted.get_result() is None

    with pytest.raises(ApiException) as failure:
        IAMAuthenticator(key.apikey, url=emulator.url).token_manager.get_token()
    assert failure.value.status_code == 400
    assert failure.value.http_response.json()["errorCode"] == "BXNIM0415E"

    after = ApiKeyList.from_dict(identity.list_api_keys(account_id=account_id, iam_id=iam_id).get_result())
    assert key.id not in [item.id for item in after.apikeys]


def test_service_ids(identity, caller):
    account_id = caller["account_id"]
    name = _unique("compat-service-id")

    created = identity.create_service_id(account_id=account_id, name=name, description="compat")
    assert created.get_status_code() == 201
    service_id = ServiceId.from_dict(created.get_result())
    assert service_id.name == name
    assert service_id.account_id == account_id
    assert service_id.id.startswith("ServiceId-"), service_id.id
    assert service_id.iam_id == "iam-" + service_id.id
    assert service_id.locked is False

    listed = identity.list_service_ids(account_id=account_id)
    assert listed.get_status_code() == 200
    service_list = ServiceIdList.from_dict(listed.get_result())
    assert service_id.id in [item.id for item in service_list.serviceids]
    assert all(item.account_id == account_id for item in service_list.serviceids)


def test_service_id_gets_its_own_api_key(identity, caller, emulator, check_iam_token):
    account_id = caller["account_id"]
    service_id = ServiceId.from_dict(
        identity.create_service_id(account_id=account_id, name=_unique("compat-sid")).get_result()
    )
    key = ApiKey.from_dict(
        identity.create_api_key(name=_unique("k"), iam_id=service_id.iam_id, account_id=account_id).get_result()
    )
    token = IAMAuthenticator(key.apikey, url=emulator.url).token_manager.get_token()
    claims = check_iam_token(
        token, iam_id=service_id.iam_id, grant_type="urn:ibm:params:oauth:grant-type:apikey", account_id=account_id
    )
    assert claims["sub"] == service_id.id


def test_profiles(identity, caller):
    account_id = caller["account_id"]
    name = _unique("compat-profile")

    created = identity.create_profile(name=name, account_id=account_id, description="compat")
    assert created.get_status_code() == 201
    profile = TrustedProfile.from_dict(created.get_result())
    assert profile.name == name
    assert profile.account_id == account_id
    assert profile.id.startswith("Profile-"), profile.id
    assert profile.iam_id == "iam-" + profile.id

    listed = identity.list_profiles(account_id=account_id)
    assert listed.get_status_code() == 200
    profile_list = TrustedProfilesList.from_dict(listed.get_result())
    assert profile.id in [item.id for item in profile_list.profiles]
    assert all(item.account_id == account_id for item in profile_list.profiles)


def test_unauthenticated_call_is_refused(emulator):
    from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator

    service = IamIdentityV1(authenticator=BearerTokenAuthenticator("not.a.token"))
    service.set_service_url(emulator.url)
    with pytest.raises(ApiException) as failure:
        service.list_service_ids(account_id="5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e")
    assert failure.value.status_code == 401, failure.value
