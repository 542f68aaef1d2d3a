"""The seed package's ``PDPClient`` (``ibmcloud_iam`` 0.1.7), unmodified, against the emulator.

``PDPClient(api_key, iam_endpoint)`` is the calling service: it gets its own token from
the API key (redstone, ``/oidc/token``) and posts ``[{"subject", "resource", "action"}]``
to ``{endpoint}/v2/authz`` with ``Authorization: Bearer <token>``. It returns
``responses[0]["authorizationDecision"]``. ``subject_as_attributes`` and
``subject_as_token_body`` first validate the user's token against ``/identity/keys``.

The seed file grants books-backend Reader on the ``books`` service of the example
account; Alice, the account owner, holds no books policy.
"""

import uuid

import pytest
import requests
from ibmcloud_iam.pdp import PDPClient
from ibmcloud_iam.token import TokenManager

ACCOUNT = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"


def books_crn(instance: str) -> str:
    return f"crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:{instance}::"


@pytest.fixture(scope="module")
def pdp(iam_url, seed_identities) -> PDPClient:
    return PDPClient(seed_identities["books_apikey"], iam_endpoint=iam_url)


@pytest.fixture(scope="module")
def books_token(iam_url, seed_identities) -> str:
    return TokenManager(api_key=seed_identities["books_apikey"], iam_endpoint=iam_url).get_token()


@pytest.fixture(scope="module")
def alice_token(iam_url, seed_identities) -> str:
    return TokenManager(api_key=seed_identities["alice_apikey"], iam_endpoint=iam_url).get_token()


def test_subject_as_attributes_permit_and_deny(pdp, books_token, seed_identities):
    subject = pdp.subject_as_attributes(books_token)
    assert subject == {"attributes": {"id": seed_identities["books_iam_id"], "scope": "ibm openid"}}
    decision = pdp.is_authorized(subject, "books.book.read", {"crn": books_crn("shelf-1")})
    assert decision["permitted"] is True, decision
    denied = pdp.is_authorized(subject, "books.book.delete", {"crn": books_crn("shelf-1")})
    assert denied["permitted"] is False, denied


def test_a_user_without_a_policy_is_denied(pdp, alice_token):
    subject = pdp.subject_as_attributes(alice_token)
    decision = pdp.is_authorized(subject, "books.book.read", {"crn": books_crn("shelf-1")})
    assert decision["permitted"] is False, decision


def test_attribute_resources(pdp, books_token):
    subject = pdp.subject_as_attributes(books_token)
    resource = {
        "attributes": {
            "serviceName": "books",
            "accountId": ACCOUNT,
            "serviceInstance": "shelf-2",
            "ctype": "public",
        }
    }
    assert pdp.is_authorized(subject, "books.dashboard.view", resource)["permitted"] is True
    other_account = dict(resource["attributes"], accountId="0" * 32)
    assert pdp.is_authorized(subject, "books.dashboard.view", {"attributes": other_account})["permitted"] is False


def test_subject_as_token_body(pdp, books_token, alice_token):
    assert pdp.is_authorized(pdp.subject_as_token_body(books_token), "books.book.read",
                             {"crn": books_crn("x")})["permitted"] is True
    assert pdp.is_authorized(pdp.subject_as_token_body(alice_token), "books.book.read",
                             {"crn": books_crn("x")})["permitted"] is False


def test_advanced_obligations(pdp, books_token, seed_identities):
    client = PDPClient(seed_identities["books_apikey"], iam_endpoint=pdp._endpoint)
    client._advanced_obligations = True
    decision = client.is_authorized(client.subject_as_attributes(books_token), "books.book.read",
                                    {"crn": books_crn("shelf-3")})
    assert decision["permitted"] is True
    obligation = decision["obligation"]
    assert obligation["actions"] == ["books.book.read", "books.dashboard.view"]
    assert obligation["maxCacheAgeSeconds"] == 600
    assert obligation["resource"]["attributes"] == {"serviceName": "books", "accountId": ACCOUNT}


def test_a_policy_created_by_the_owner_is_enforced_at_once(pdp, iam_url, alice_token):
    instance = "compat-" + uuid.uuid4().hex[:8]
    subject = pdp.subject_as_attributes(alice_token)
    assert pdp.is_authorized(subject, "books.book.delete", {"crn": books_crn(instance)})["permitted"] is False
    policy = {
        "type": "access",
        "subjects": [{"attributes": [{"name": "iam_id", "value": subject["attributes"]["id"]}]}],
        "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Manager"}],
        "resources": [{"attributes": [
            {"name": "accountId", "value": ACCOUNT},
            {"name": "serviceName", "value": "books"},
            {"name": "serviceInstance", "value": instance},
        ]}],
    }
    created = requests.post(iam_url + "/v1/policies", json=policy,
                            headers={"Authorization": "Bearer " + alice_token}, timeout=30)
    assert created.status_code == 201, created.text
    try:
        assert pdp.is_authorized(subject, "books.book.delete", {"crn": books_crn(instance)})["permitted"] is True
        assert pdp.is_authorized(subject, "books.book.delete", {"crn": books_crn(instance + "-other")})["permitted"] is False
    finally:
        deleted = requests.delete(f"{iam_url}/v1/policies/{created.json()['id']}",
                                  headers={"Authorization": "Bearer " + alice_token}, timeout=30)
        assert deleted.status_code == 204, deleted.text
    assert pdp.is_authorized(subject, "books.book.delete", {"crn": books_crn(instance)})["permitted"] is False


def test_bad_input_raises_for_status(pdp, books_token):
    subject = pdp.subject_as_attributes(books_token)
    with pytest.raises(requests.HTTPError) as failure:
        pdp.is_authorized(subject, "books.book.read", {"crn": "crn:v1:not-a-crn"})
    assert failure.value.response.status_code == 400
    body = failure.value.response.json()
    assert body["status_code"] == 400 and body["errors"][0]["message"], body


def test_the_caller_key_must_be_valid(iam_url, books_token):
    stranger = PDPClient("not-a-real-apikey-0123456789abcdefghij", iam_endpoint=iam_url)
    with pytest.raises(Exception, match="Error getting token"):
        stranger.is_authorized({"attributes": {"id": "IBMid-x", "scope": "ibm openid"}}, "books.book.read",
                               {"crn": books_crn("x")})
