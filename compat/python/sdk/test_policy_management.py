"""IBM's ``ibm-platform-services`` access-management clients, unmodified, against the emulator.

``IamPolicyManagementV1`` (policies v1 and v2, roles) and ``IamAccessGroupsV2`` (groups
and members) create what the emulator's Policy Decision Point then enforces; decisions
are asked with plain ``requests`` as a service would (``POST /v2/authz``). Every result is
fed through the SDK's own model ``from_dict``, so a missing required field fails here.
"""

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
from ibm_platform_services import IamAccessGroupsV2, IamPolicyManagementV1
from ibm_platform_services.iam_access_groups_v2 import (
    AddGroupMembersRequestMembersItem,
    AddGroupMembersResponse,
    Group,
    GroupMembersList,
    GroupsList,
)
from ibm_platform_services.iam_policy_management_v1 import (
    Control,
    CustomRole,
    Grant,
    NestedConditionRuleAttribute,
    Policy,
    PolicyCollection,
    PolicyResource,
    PolicyRole,
    PolicySubject,
    ResourceAttribute,
    RoleCollection,
    Roles,
    SubjectAttribute,
    V2Policy,
    V2PolicyCollection,
    V2PolicyResource,
    V2PolicyResourceAttribute,
    V2PolicyRuleRuleWithNestedConditions,
    V2PolicySubject,
    V2PolicySubjectAttribute,
)

ACCOUNT = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
MANAGER = "crn:v1:bluemix:public:iam::::serviceRole:Manager"
WRITER = "crn:v1:bluemix:public:iam::::serviceRole:Writer"
VIEWER = "crn:v1:bluemix:public:iam::::role:Viewer"


def _instance() -> str:
    return "compat-" + uuid.uuid4().hex[:10]


def _crn(instance: str) -> str:
    return f"crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:{instance}::"


def _client(cls, emulator, apikey):
    service = cls(authenticator=IAMAuthenticator(apikey, url=emulator.url))
    service.set_service_url(emulator.url)
    return service


@pytest.fixture(scope="module")
def policies(emulator, seed_identities) -> IamPolicyManagementV1:
    """Alice's client: she owns the example account."""
    return _client(IamPolicyManagementV1, emulator, seed_identities["alice_apikey"])


@pytest.fixture(scope="module")
def groups(emulator, seed_identities) -> IamAccessGroupsV2:
    return _client(IamAccessGroupsV2, emulator, seed_identities["alice_apikey"])


@pytest.fixture(scope="module")
def decide(emulator, seed_identities):
    """``permitted(subject, action, crn)`` through ``POST /v2/authz``, as books-backend."""
    pep = IAMAuthenticator(seed_identities["books_apikey"], url=emulator.url).token_manager

    def permitted(subject: str, action: str, crn: str) -> bool:
        response = requests.post(
            emulator.url + "/v2/authz",
            json=[{"subject": {"attributes": {"id": subject, "scope": "ibm openid"}},
                   "action": action, "resource": {"crn": crn}}],
            headers={"Authorization": "Bearer " + pep.get_token(), "X-Accept-Advanced-Obligation": "true"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        item = response.json()["responses"][0]
        assert item["status"] == "200", item
        return item["authorizationDecision"]["permitted"]

    return permitted


def test_v1_policy_created_by_the_sdk_is_enforced(policies, decide, seed_identities):
    alice, instance = seed_identities["alice_iam_id"], _instance()
    assert decide(alice, "books.book.delete", _crn(instance)) is False
    response = policies.create_policy(
        type="access",
        subjects=[PolicySubject(attributes=[SubjectAttribute(name="iam_id", value=alice)])],
        roles=[PolicyRole(role_id=MANAGER)],
        resources=[PolicyResource(attributes=[
            ResourceAttribute(name="accountId", value=ACCOUNT),
            ResourceAttribute(name="serviceName", value="books", operator="stringEquals"),
            ResourceAttribute(name="serviceInstance", value=instance, operator="stringEquals"),
        ])],
        description="compat: Alice manages one instance",
    )
    assert response.get_status_code() == 201
    policy = Policy.from_dict(response.get_result())
    assert policy.id and policy.state == "active" and policy.created_at is not None
    assert policy.roles[0].display_name == "Manager"
    assert response.get_headers().get("ETag")
    try:
        assert decide(alice, "books.book.delete", _crn(instance)) is True
        assert decide(alice, "books.book.delete", _crn(instance + "x")) is False

        fetched = Policy.from_dict(policies.get_policy(policy_id=policy.id).get_result())
        assert fetched.id == policy.id and fetched.description == "compat: Alice manages one instance"
        listed = PolicyCollection.from_dict(
            policies.list_policies(account_id=ACCOUNT, iam_id=alice).get_result())
        assert policy.id in [p.id for p in listed.policies]
    finally:
        assert policies.delete_policy(policy_id=policy.id).get_status_code() == 204
    assert decide(alice, "books.book.delete", _crn(instance)) is False


def test_v2_policy_with_a_time_window_is_enforced(policies, decide, seed_identities):
    alice, instance = seed_identities["alice_iam_id"], _instance()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    window = [
        NestedConditionRuleAttribute(
            key="{{environment.attributes.current_date_time}}",
            operator="dateTimeGreaterThanOrEquals",
            value=(now - timedelta(hours=1)).isoformat()),
        NestedConditionRuleAttribute(
            key="{{environment.attributes.current_date_time}}",
            operator="dateTimeLessThanOrEquals",
            value=(now + timedelta(hours=1)).isoformat()),
    ]
    response = policies.create_v2_policy(
        control=Control(grant=Grant(roles=[Roles(role_id=WRITER)])),
        type="access",
        subject=V2PolicySubject(attributes=[
            V2PolicySubjectAttribute(key="iam_id", operator="stringEquals", value=alice)]),
        resource=V2PolicyResource(attributes=[
            V2PolicyResourceAttribute(key="accountId", operator="stringEquals", value=ACCOUNT),
            V2PolicyResourceAttribute(key="serviceName", operator="stringEquals", value="books"),
            V2PolicyResourceAttribute(key="serviceInstance", operator="stringMatch", value=instance + "-*"),
        ]),
        rule=V2PolicyRuleRuleWithNestedConditions(operator="and", conditions=window),
        pattern="time-based-conditions:once",
    )
    assert response.get_status_code() == 201
    policy = V2Policy.from_dict(response.get_result())
    assert policy.state == "active" and policy.pattern == "time-based-conditions:once"
    try:
        assert decide(alice, "books.book.create", _crn(instance + "-a")) is True
        assert decide(alice, "books.book.create", _crn(instance)) is False, "stringMatch needs the dash"
        assert decide(alice, "books.book.delete", _crn(instance + "-a")) is False, "Writer does not delete"
        fetched = V2Policy.from_dict(policies.get_v2_policy(id=policy.id).get_result())
        assert fetched.resource.attributes[2].operator == "stringMatch"
        listed = V2PolicyCollection.from_dict(policies.list_v2_policies(account_id=ACCOUNT).get_result())
        assert policy.id in [p.id for p in listed.policies]
    finally:
        assert policies.delete_v2_policy(id=policy.id).get_status_code() == 204


def test_roles(policies, decide, seed_identities):
    roles = RoleCollection.from_dict(
        policies.list_roles(account_id=ACCOUNT, service_name="books").get_result())
    assert [r.display_name for r in roles.system_roles] == ["Viewer", "Operator", "Editor", "Administrator"]
    reader = next(r for r in roles.service_roles if r.display_name == "Reader")
    assert reader.actions == ["books.book.read", "books.dashboard.view"]
    assert "BookCurator" in [r.name for r in roles.custom_roles]

    name = "Compat" + uuid.uuid4().hex[:8].upper()
    created = policies.create_role(display_name="Compat shredder", actions=["books.book.delete"], name=name,
                                   account_id=ACCOUNT, service_name="books")
    assert created.get_status_code() == 201
    role = CustomRole.from_dict(created.get_result())
    assert role.crn.endswith("::customRole:" + name)
    alice, instance = seed_identities["alice_iam_id"], _instance()
    policy = Policy.from_dict(policies.create_policy(
        type="access",
        subjects=[PolicySubject(attributes=[SubjectAttribute(name="iam_id", value=alice)])],
        roles=[PolicyRole(role_id=role.crn)],
        resources=[PolicyResource(attributes=[
            ResourceAttribute(name="accountId", value=ACCOUNT),
            ResourceAttribute(name="serviceName", value="books"),
            ResourceAttribute(name="serviceInstance", value=instance)])],
    ).get_result())
    try:
        assert decide(alice, "books.book.delete", _crn(instance)) is True
        assert decide(alice, "books.book.read", _crn(instance)) is False, "only the custom role's action"
    finally:
        policies.delete_policy(policy_id=policy.id)
        assert policies.delete_role(role_id=role.id).get_status_code() == 204


def test_access_groups(groups, policies, decide, seed_identities):
    created = groups.create_access_group(account_id=ACCOUNT, name="compat-" + uuid.uuid4().hex[:6])
    assert created.get_status_code() == 201
    group = Group.from_dict(created.get_result())
    assert group.id.startswith("AccessGroupId-") and group.account_id == ACCOUNT
    books_iam_id, instance = seed_identities["books_iam_id"], _instance()
    added = groups.add_members_to_access_group(
        access_group_id=group.id,
        members=[AddGroupMembersRequestMembersItem(iam_id=books_iam_id, type="service")])
    assert added.get_status_code() == 207
    assert AddGroupMembersResponse.from_dict(added.get_result()).members[0].status_code == 200
    members = GroupMembersList.from_dict(groups.list_access_group_members(access_group_id=group.id).get_result())
    assert [m.iam_id for m in members.members] == [books_iam_id]
    listed = GroupsList.from_dict(groups.list_access_groups(account_id=ACCOUNT, iam_id=books_iam_id).get_result())
    assert group.id in [g.id for g in listed.groups]

    assert decide(books_iam_id, "books.book.create", _crn(instance)) is False
    policies.create_policy(
        type="access",
        subjects=[PolicySubject(attributes=[SubjectAttribute(name="access_group_id", value=group.id)])],
        roles=[PolicyRole(role_id=WRITER)],
        resources=[PolicyResource(attributes=[
            ResourceAttribute(name="accountId", value=ACCOUNT),
            ResourceAttribute(name="serviceName", value="books"),
            ResourceAttribute(name="serviceInstance", value=instance)])])
    assert decide(books_iam_id, "books.book.create", _crn(instance)) is True
    assert groups.remove_member_from_access_group(access_group_id=group.id, iam_id=books_iam_id).get_status_code() == 204
    assert decide(books_iam_id, "books.book.create", _crn(instance)) is False
    assert groups.delete_access_group(access_group_id=group.id, force=True).get_status_code() == 204


def test_only_administrators_manage(emulator, seed_identities):
    books = _client(IamPolicyManagementV1, emulator, seed_identities["books_apikey"])
    with pytest.raises(ApiException) as failure:
        books.create_policy(
            type="access",
            subjects=[PolicySubject(attributes=[SubjectAttribute(name="iam_id", value="IBMid-x")])],
            roles=[PolicyRole(role_id=VIEWER)],
            resources=[PolicyResource(attributes=[ResourceAttribute(name="accountId", value=ACCOUNT),
                                                  ResourceAttribute(name="serviceName", value="books")])])
    assert failure.value.status_code == 403


def test_the_apikey_identity_administers_its_default_account(emulator):
    admin = _client(IamPolicyManagementV1, emulator, emulator.apikey)
    token = IAMAuthenticator(emulator.apikey, url=emulator.url).token_manager.get_token()
    payload = token.split(".")[1]
    account = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["account"]["bss"]
    response = admin.create_policy(
        type="access",
        subjects=[PolicySubject(attributes=[SubjectAttribute(name="iam_id", value="IBMid-someone")])],
        roles=[PolicyRole(role_id=VIEWER)],
        resources=[PolicyResource(attributes=[ResourceAttribute(name="accountId", value=account),
                                              ResourceAttribute(name="serviceName", value="books")])])
    assert response.get_status_code() == 201
    Policy.from_dict(response.get_result())
    collection = PolicyCollection.from_dict(admin.list_policies(account_id=account).get_result())
    assert len(collection.policies) >= 2
