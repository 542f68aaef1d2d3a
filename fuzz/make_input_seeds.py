"""Writes the seed corpora of the targets that read answers, configuration and requests
(token_response, pdp_answers, crn_parser, service_config, emulator_requests) under seeds/.
Standard library only:

    python3 make_input_seeds.py

Each target's first bytes select what the rest is (see the targets' doc comments); the
seeds cover every selector with a well-formed input and the shapes IAM is known to send.
The seeds are committed; this script documents where they come from.
"""

import json
import pathlib

HERE = pathlib.Path(__file__).parent
SEEDS = HERE / "seeds"
# An IAM-shaped token from make_seeds.py (iat 1746519454, exp 1746523054).
TOKEN = (SEEDS / "token_parser" / "iam_service_id").read_text().strip()
ACCOUNT = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
ALICE = "IBMid-550000ED6J"
ALICE_KEY = "alice-apikey-0123456789abcdefghijklmnop"
BOOKS_KEY = "books-backend-apikey-0123456789abcdefghij"
PROFILE = "Profile-3f0e2a9c-0000-4000-8000-000000000001"


def j(v) -> bytes:
    return json.dumps(v, separators=(",", ":")).encode()


def write(target: str, seeds: dict) -> None:
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)


# token_response: [status selector, header flags] + body. Status 0 is 200; flags 0 is
# application/json, 4 text/html, 7 no Content-Type, 0x18 adds Retry-After and Transaction-Id
# (from the body's first line).
ok = {"access_token": TOKEN, "refresh_token": "not_supported", "token_type": "Bearer",
      "expires_in": 3600, "expiration": 1746523054, "scope": "ibm openid"}
write("token_response", {
    "iam_200": bytes([0, 0]) + j(ok),
    "iam_200_refresh": bytes([0, 1]) + j({**ok, "refresh_token": "OKDu4Rj2cQ9D3QlM"}),
    "jwt_times_only": bytes([0, 2]) + j({"access_token": TOKEN, "token_type": "Bearer"}),
    "expired": bytes([0, 0]) + j({**ok, "expires_in": 5}),
    "string_expires_in": bytes([0, 0]) + j({**ok, "expires_in": "3600"}),
    "huge_expires_in": bytes([0, 0]) + j({**ok, "expires_in": 18446744073709551615}),
    "negative": bytes([0, 0]) + j({**ok, "expires_in": -9223372036854775808, "expiration": -1}),
    "not_jwt": bytes([0, 0]) + j({**ok, "access_token": "opaque-token"}),
    "mac": bytes([0, 0]) + j({**ok, "token_type": "mac"}),
    "html_200": bytes([0, 4]) + b"<html><body>Service Unavailable</body></html>",
    "no_type": bytes([0, 7]) + j(ok),
    "empty": bytes([0, 0]),
    "token_error": bytes([6, 0]) + j({"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found.",
                                      "context": {"requestId": "abc", "requestType": "incoming.OIDC_Token"}}),
    "api_error": bytes([7, 0]) + j({"errors": [{"code": "invalid_access_token", "message_code": "BXNIM0407E",
                                                "message": "The token is invalid"}], "trace": "t-1", "status_code": 401}),
    "rate_limited": bytes([9, 0x18]) + b"30\n" + j({"message": "Too many requests"}),
    "gateway": bytes([11, 5]) + b"upstream connect error or disconnect/reset before headers",
})

# pdp_answers: [call, status/type] + body. Call 0-2: one to three decisions in one batch;
# 3: roles; 4-5: bulk over 4 or 5 resources. Selector 0: 200 application/json.
pattern = {"order": ["subject", "resource", "action"], "subject": [["id"], ["id", "scope"]],
           "resource": [[], ["serviceName"], ["serviceName", "accountId"],
                        ["serviceName", "accountId", "serviceInstance"]]}
permit = {"status": "200", "authorizationDecision": {"permitted": True, "reason": "", "obligation": {
    "actions": ["books.book.read", "books.book.create"], "maxCacheAgeSeconds": 600,
    "subject": {"attributes": {"id": "iam-ServiceId-fuzz", "scope": "ibm openid"}},
    "resource": {"attributes": {"serviceName": "books", "accountId": "1111222233334444aaaabbbbccccdddd"}},
    "environment": {}}}}
deny = {"status": 200, "authorizationDecision": {"permitted": False, "reason": "Context"}}
item_error = {"status": "400", "error": {"transactionId": "t-2", "errors": [
    {"businessCode": "b", "code": "bad_subject", "message": "Unknown subject", "moreInfo": "m"}]}}
roles = {"responses": [{"status": "200",
    "roleActions": [{"role": {"crn": "crn:v1:bluemix:public:iam::::serviceRole:Reader", "displayName": "Reader"},
                     "actions": [{"action": "books.book.read"}]}],
    "platformExtensions": {"roleActions": [{"role": {"crn": "crn:v1:bluemix:public:iam::::role:Viewer"},
                                            "actions": ["books.dashboard.view"]}]}}]}
bulk = {"decisions": [{"decision": "Permit", "obligation": permit["authorizationDecision"]["obligation"]},
                      {"decision": "Deny", "reason": "Network"}, {"decision": "Permit"}, {"decision": "Deny"}],
        "cacheKeyPattern": pattern}
write("pdp_answers", {
    "one_permit": bytes([0, 0]) + j({"responses": [permit], "cacheKeyPattern": pattern}),
    "two_mixed": bytes([1, 0]) + j({"responses": [permit, deny], "cacheKeyPattern": pattern}),
    "three_with_error": bytes([2, 0]) + j({"responses": [deny, item_error, {"status": "200"}]}),
    "count_mismatch": bytes([2, 0]) + j({"responses": [permit]}),
    "odd_pattern": bytes([0, 0]) + j({"responses": [permit], "cacheKeyPattern": {"subject": [["id", "id"]], "resource": [["x"]]}}),
    "number_attrs": bytes([0, 0]) + j({"responses": [{"status": "200", "authorizationDecision": {"permitted": True,
        "obligation": {"maxCacheAgeSeconds": 18446744073709551615, "subject": {"attributes": {"id": 5}}}}}]}),
    "roles": bytes([3, 0]) + j(roles),
    "bulk": bytes([4, 0]) + j(bulk),
    "bulk_short": bytes([5, 0]) + j({"decisions": [{"decision": "Permit"}]}),
    "html": bytes([0, 2]) + b"<html>503</html>",
    "server_error": bytes([0, 28]) + j({"errors": [{"code": "internal_error", "message": "boom"}]}),
    "forbidden": bytes([0, 24]) + j({"errors": [{"code": "forbidden", "message": "no"}], "trace": "t"}),
})

write("crn_parser", {
    "instance": b"crn:v1:bluemix:public:books:us-south:a/1111222233334444:9e386139-0000::",
    "resource": b"crn:v1:bluemix:public:books:us-south:a/1111222233334444:shelf-1:book:42",
    "iam_role": b"crn:v1:bluemix:public:iam::::serviceRole:Reader",
    "org_scope": b"crn:v1:staging:dedicated:toolchain::o/org:::",
    "project": b"crn:v1:bluemix:public:cloudantnosqldb:eu-de:p/proj:inst:db:x",
    "too_few": b"crn:v1:too:few",
    "too_many": b"crn:v1:bluemix:public:books:us-south:a/1::::extra",
    "v2": b"crn:v2:bluemix:public:books::::::",
    "space": b"crn:v1:bluemix:public:books :us-south::::",
    "unicode": "crn:v1:bluemix:public:b\u00f6oks:\u00fcs:a/\u0661::\u200b:".encode(),
})

# service_config: [source] + service name + "\n" + text. Source 0: credentials file,
# 1: environment variables (KEY=VALUE lines), 2: VCAP_SERVICES.
write("service_config", {
    "file_iam": b"\x00books\n# comment\nBOOKS_APIKEY=abcDEF0123456789xyz\nBOOKS_AUTH_TYPE=iam\nBOOKS_AUTH_URL=http://127.0.0.1:9/identity/token\n",
    "file_client": b"\x00my-service\nMY_SERVICE_APIKEY = key=with=equals \nMY_SERVICE_CLIENT_ID=bx\nMY_SERVICE_CLIENT_SECRET=bxsecret0123\nMY_SERVICE_SCOPE=ibm openid\n",
    "file_container": b"\x00svc\nSVC_AUTH_TYPE=container\nSVC_CR_TOKEN_FILENAME=/var/run/secrets/tokens/sa-token\nSVC_IAM_PROFILE_NAME=books-workload\nSVC_AUTH_DISABLE_SSL=true\n",
    "env_assume": b"\x01svc\nSVC_AUTH_TYPE=iamAssume\nSVC_APIKEY=abcDEF0123456789xyz\nSVC_IAM_PROFILE_NAME=p\nSVC_IAM_ACCOUNT_ID=acc\n",
    "env_assume_crn": b"\x01svc\nSVC_AUTHTYPE=IAMASSUME\nSVC_APIKEY=k\nSVC_IAM_PROFILE_CRN=crn:v1:bluemix:public:iam-identity::a/acc::profile:Profile-1\n",
    "env_bearer": b"\x01svc\nSVC_AUTH_TYPE=bearerToken\nSVC_BEARER_TOKEN=" + TOKEN.encode() + b"\n",
    "env_refresh": b"\x01svc\nSVC_AUTH_TYPE=iam\nSVC_REFRESH_TOKEN=refreshTOKEN0123\nSVC_CLIENT_ID=id\nSVC_CLIENT_SECRET=s\n",
    "env_bad_url": b"\x01svc\nSVC_APIKEY=k\nSVC_AUTH_URL=http://iam.example.com:99999/identity?x#y\n",
    "vcap_key": b"\x02books\n" + j({"books": [{"name": "books", "credentials": {"apikey": "vcapKEY0123456789", "url": "https://books.example"}}]}),
    "vcap_named": b"\x02books\n" + j({"user-provided": [{"name": "other"}, {"name": "books", "credentials": {"iam_apikey": "k2"}}]}),
    "vcap_odd": b"\x02books\n" + j({"books": {"credentials": {}}, "x": [1, None, {"name": 5}]}),
})

# emulator_requests: [route, flags] + body. Routes: 0 token, 1 apikeys, 2 serviceids,
# 3 profiles, 4 policies, 5 profile rules, 6 profile identities, 7 /v2/authz, 8 roles,
# 9 bulk, 10 list apikeys, 11 list policies. Flags 0: the right credentials and
# Content-Type. @AT@, @RT@, @CR@: a valid access, refresh and compute-resource token.
subject = {"attributes": {"id": ALICE, "scope": "ibm openid"}}
resource = {"crn": f"crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-1::"}
write("emulator_requests", {
    "token_apikey": bytes([0, 0]) + f"grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={BOOKS_KEY}".encode(),
    "token_apikey_scope": bytes([0, 0x10]) + f"grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey={ALICE_KEY}&response_type=cloud_iam&scope=ibm%20openid".encode(),
    "token_password": bytes([0, 0]) + b"grant_type=password&username=alice%40example.com&password=alice-password-change-me",
    "token_refresh": bytes([0, 0]) + b"grant_type=refresh_token&refresh_token=@RT@",
    "token_cr": bytes([0, 0]) + f"grant_type=urn:ibm:params:oauth:grant-type:cr-token&cr_token=@CR@&profile_id={PROFILE}".encode(),
    "token_assume": bytes([0, 0]) + f"grant_type=urn:ibm:params:oauth:grant-type:assume&access_token=@AT@&profile_name=books-workload&account={ACCOUNT}".encode(),
    "token_repeated": bytes([0, 0]) + b"grant_type=a&grant_type=b&apikey=%ZZ",
    "apikey": bytes([1, 0]) + j({"name": "k", "iam_id": ALICE, "account_id": ACCOUNT, "description": "d",
                                 "store_value": False, "action_when_leaked": "none", "expires_at": "2030-01-01T00:00+0000"}),
    "apikey_byo": bytes([1, 4]) + j({"name": "k", "iam_id": ALICE, "apikey": "x" * 40, "store_value": True}),
    "serviceid": bytes([2, 0]) + j({"account_id": ACCOUNT, "name": "s", "apikey": {"name": "k", "store_value": True}}),
    "profile": bytes([3, 0]) + j({"name": "p", "account_id": ACCOUNT, "description": "d"}),
    "policy_v1": bytes([4, 0]) + j({"type": "access", "subjects": [{"attributes": [{"name": "iam_id", "value": ALICE}]}],
                                    "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
                                    "resources": [{"attributes": [{"name": "accountId", "value": ACCOUNT},
                                                                  {"name": "serviceName", "value": "books", "operator": "stringEquals"},
                                                                  {"name": "serviceInstance", "value": "shelf-*", "operator": "stringMatch"}]}]}),
    "rule": bytes([5, 0]) + j({"type": "Profile-CR", "cr_type": "IKS_SA", "name": "r", "expiration": 3600,
                               "conditions": [{"claim": "namespace", "operator": "IN", "value": "[\"books\",\"x\"]"}]}),
    "identities": bytes([6, 0]) + j({"identities": [{"iam_id": ALICE, "identifier": ALICE, "type": "user", "accounts": [ACCOUNT]}]}),
    "authz": bytes([7, 0]) + j([{"subject": subject, "action": "books.book.read", "resource": resource,
                                 "environment": {"attributes": {}}, "requestId": "r1"},
                                {"subject": {"accessTokenBody": TOKEN.split(".")[1]}, "action": "books.book.read",
                                 "resource": {"attributes": {"serviceName": "books", "accountId": ACCOUNT}}}]),
    "roles": bytes([8, 0]) + j([{"subject": subject, "resource": resource, "environment": {}}]),
    "bulk": bytes([9, 0]) + j({"subject": subject, "action": "books.book.read",
                               "resources": {"sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT},
                                             "uniqueAttributes": [{"serviceInstance": "a"}, {"serviceInstance": "b"}]},
                               "environment": {"attributes": {}}}),
    "list_apikeys": bytes([10, 0]) + f"account_id={ACCOUNT}&iam_id={ALICE}&pagesize=2&pagetoken=abc&sort=name&order=asc".encode(),
    "list_policies": bytes([11, 0]) + f"account_id={ACCOUNT}&iam_id={ALICE}&type=access&format=display".encode(),
})
