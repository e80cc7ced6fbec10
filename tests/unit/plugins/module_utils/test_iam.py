"""iam: our evaluation of identity policies (Allow/Deny, wildcards, NotAction/NotResource,
conditions, boundaries), the reading of SimulatePrincipalPolicy's answers, broad grants, and the
IAM reads through botocore's Stubber with responses shaped like IAM's documented ones; the
execution-role grant: its policy, its input checks and the exact IAM calls it makes."""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, aws_retry
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import grant_policy_name
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    UNKNOWN,
    IamReader,
    NamedPolicy,
    action_matches,
    broad_grants,
    condition_holds,
    evaluate,
    grant_options,
    grant_policy,
    grant_problems,
    grant_removal_options,
    kms_key_arn,
    resource_matches,
    role_names,
    run_grant,
    same_policy,
    simulation_decisions,
)

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1234-AbCdEf"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
VIA = {"kms:ViaService": ["secretsmanager.us-east-1.amazonaws.com"]}


def inline(*statements, name="grant", kind="inline"):
    return NamedPolicy(name, kind, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **extra):
    return dict({"Effect": "Allow", "Action": action, "Resource": resource}, **extra)


def deny(action, resource, **extra):
    return dict({"Effect": "Deny", "Action": action, "Resource": resource}, **extra)


def test_actions_match_without_case_and_resources_with_case():
    assert action_matches("secretsmanager:Get*", "secretsmanager:GetSecretValue")
    assert action_matches("SecretsManager:getsecretvalue", "secretsmanager:GetSecretValue")
    assert action_matches("secretsmanager:GetSecret?alue", "secretsmanager:GetSecretValue")
    assert not action_matches("secretsmanager:Describe*", "secretsmanager:GetSecretValue")
    assert resource_matches("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-*", SECRET)
    assert not resource_matches(SECRET.upper(), SECRET)
    assert resource_matches("*", SECRET)


@pytest.mark.parametrize(
    "policies, decision",
    [
        ([], IMPLICIT_DENY),
        ([inline(allow("secretsmanager:GetSecretValue", SECRET))], ALLOWED),
        ([inline(allow(["secretsmanager:GetSecretValue"], [SECRET + "-other"]))], IMPLICIT_DENY),
        ([inline(allow("secretsmanager:*", "*")), inline(deny("secretsmanager:GetSecretValue", SECRET), name="no")], EXPLICIT_DENY),
        ([inline({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], ALLOWED),
        ([inline({"Effect": "Allow", "NotAction": "secretsmanager:*", "Resource": "*"})], IMPLICIT_DENY),
        ([inline(allow("*", "*"), {"Effect": "Deny", "Action": "*", "NotResource": SECRET})], ALLOWED),
        ([inline(allow("*", "*"), {"Effect": "Deny", "Action": "*", "NotResource": KEY})], EXPLICIT_DENY),
        ([inline(allow("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:${aws:username}-*"))], UNKNOWN),
    ],
)
def test_evaluate_deny_wins_then_allow_then_implicit_deny(policies, decision):
    assert evaluate(policies, "secretsmanager:GetSecretValue", SECRET, {}).decision == decision


def test_explicit_deny_names_the_statement():
    result = evaluate([inline(allow("*", "*")), inline(deny("secretsmanager:*", "*", Sid="NoSecrets"), name="guard")],
                      "secretsmanager:GetSecretValue", SECRET, {})
    assert result.decision == EXPLICIT_DENY and result.reasons == ["inline policy guard statement NoSecrets"]


def test_kms_via_service_condition_is_evaluated_from_the_context():
    grant = inline(allow("kms:Decrypt", KEY, Condition={"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}))
    assert evaluate([grant], "kms:Decrypt", KEY, VIA).decision == ALLOWED
    other = {"kms:ViaService": ["s3.us-east-1.amazonaws.com"]}
    assert evaluate([grant], "kms:Decrypt", KEY, other).decision == IMPLICIT_DENY


def test_a_condition_we_cannot_evaluate_is_unknown_not_a_deny():
    grant = inline(allow("secretsmanager:GetSecretValue", SECRET, Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}))
    result = evaluate([grant], "secretsmanager:GetSecretValue", SECRET, {})
    assert result.decision == UNKNOWN and "statement 1" in result.reasons[0]
    # A Deny that may apply makes an Allow uncertain too.
    guarded = [inline(allow("secretsmanager:GetSecretValue", SECRET)),
               inline(deny("*", "*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), name="ip")]
    assert evaluate(guarded, "secretsmanager:GetSecretValue", SECRET, {}).decision == UNKNOWN


def test_condition_operators():
    context = {"aws:ResourceTag/team": ["payments"]}
    assert condition_holds({"StringLike": {"aws:resourcetag/team": "pay*"}}, context) is True
    assert condition_holds({"StringNotEquals": {"aws:ResourceTag/team": "payments"}}, context) is False
    assert condition_holds({"StringEqualsIfExists": {"aws:ResourceTag/owner": "x"}}, context) is True
    assert condition_holds({"ForAnyValue:StringEquals": {"aws:ResourceTag/team": "payments"}}, context) is None
    assert condition_holds({"Bool": {"aws:SecureTransport": "true"}}, context) is None
    assert condition_holds(None, context) is True


def test_permission_boundary_must_allow_too():
    grant = inline(allow("secretsmanager:GetSecretValue", SECRET))
    boundary = inline(allow("logs:*", "*"), name="boundary", kind="boundary")
    result = evaluate([grant, boundary], "secretsmanager:GetSecretValue", SECRET, {})
    assert result.decision == IMPLICIT_DENY and result.reasons[0] == "permission boundary boundary"
    wide = inline(allow("secretsmanager:*", "*"), name="boundary", kind="boundary")
    assert evaluate([grant, wide], "secretsmanager:GetSecretValue", SECRET, {}).decision == ALLOWED


def test_broad_grants_are_named_and_the_exact_grant_is_not():
    exact = inline(allow(["secretsmanager:GetSecretValue"], [SECRET]), allow("kms:Decrypt", KEY))
    assert broad_grants([exact]) == []
    managed = NamedPolicy("SecretsManagerReadWrite", "attached", {"Statement": []}, "arn:aws:iam::aws:policy/SecretsManagerReadWrite")
    star = inline(allow("secretsmanager:*", SECRET, Sid="All"), name="star")
    anywhere = inline(allow("secretsmanager:GetSecretValue", "*"), name="anywhere")
    found = broad_grants([managed, star, anywhere, exact])
    assert found == [
        "attached policy SecretsManagerReadWrite",
        "inline policy star statement All (Action secretsmanager:*)",
        'inline policy anywhere statement 1 (secretsmanager:GetSecretValue on Resource "*")',
    ]


# SimulatePrincipalPolicy's EvaluationResults as IAM documents them (moto does not implement the call):
# EvalActionName, EvalResourceName, EvalDecision (allowed | explicitDeny | implicitDeny),
# MatchedStatements[].SourcePolicyId, MissingContextValues, PermissionsBoundaryDecisionDetail.
def _result(decision, action="secretsmanager:GetSecretValue", resource=SECRET, matched=(), missing=(), boundary=None):
    entry = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision,
        "MatchedStatements": [{"SourcePolicyId": m, "SourcePolicyType": "IAM Policy",
                               "StartPosition": {"Line": 1, "Column": 1}, "EndPosition": {"Line": 1, "Column": 80}} for m in matched],
        "MissingContextValues": list(missing),
        "EvalDecisionDetails": {},
    }
    if boundary is not None:
        entry["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": boundary}
    return entry


def test_simulation_answers_become_decisions():
    decisions = simulation_decisions([
        _result("allowed", matched=["ecsrds-connect-demo"]),
        _result("explicitDeny", resource=SECRET + "x", matched=["guard"]),
        _result("implicitDeny", action="kms:Decrypt", resource=KEY, missing=["kms:ViaService"]),
        _result("implicitDeny", action="kms:Decrypt", resource=KEY + "x"),
        _result("allowed", resource=SECRET + "y", boundary=False),
    ])
    assert decisions[("secretsmanager:GetSecretValue", SECRET)].decision == ALLOWED
    assert decisions[("secretsmanager:GetSecretValue", SECRET + "x")].reasons == ["guard"]
    assert decisions[("kms:Decrypt", KEY)].decision == UNKNOWN
    assert decisions[("kms:Decrypt", KEY + "x")].decision == IMPLICIT_DENY
    assert decisions[("secretsmanager:GetSecretValue", SECRET + "y")].decision == IMPLICIT_DENY


def _stubbed_iam():
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client), IamReader(RetryingBotoClientWrapper(client, aws_retry))


def test_simulate_passes_the_context_and_reads_the_documented_answer():
    client, stubber, reader = _stubbed_iam()
    stubber.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [_result("allowed", action="kms:Decrypt", resource=KEY, matched=["grant"])], "IsTruncated": False},
        {"PolicySourceArn": ROLE, "ActionNames": ["kms:Decrypt"], "ResourceArns": [KEY],
         "ContextEntries": [{"ContextKeyName": "kms:ViaService", "ContextKeyValues": VIA["kms:ViaService"], "ContextKeyType": "string"}]},
    )
    with stubber:
        decisions, why_not = reader.simulate(ROLE, "kms:Decrypt", [KEY], VIA)
    stubber.assert_no_pending_responses()
    assert why_not is None and decisions[("kms:Decrypt", KEY)].decision == ALLOWED


def test_simulate_refused_gives_the_reason_for_the_fallback():
    # What IAM answers a caller without iam:SimulatePrincipalPolicy.
    client, stubber, reader = _stubbed_iam()
    stubber.add_client_error("simulate_principal_policy", service_error_code="AccessDenied", http_status_code=403)
    with stubber:
        decisions, why_not = reader.simulate(ROLE, "secretsmanager:GetSecretValue", [SECRET], {})
    assert decisions is None and why_not == "iam:SimulatePrincipalPolicy failed: AccessDenied"


def test_role_policies_reads_inline_attached_and_boundary_documents():
    client, stubber, reader = _stubbed_iam()
    boundary_arn = "arn:aws:iam::123456789012:policy/boundary"
    managed_arn = "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
    stubber.add_response("get_role", {"Role": {"Path": "/", "RoleName": "ecsTaskExecutionRole", "RoleId": "AROAEXAMPLE0000000000", "Arn": ROLE,
                                               "CreateDate": "2024-08-09T00:00:00Z",
                                               "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary_arn}}})
    stubber.add_response("list_role_policies", {"PolicyNames": ["grant"], "IsTruncated": False})
    # IAM returns documents URL-encoded; boto3 decodes them only when parsing a real response.
    document = urllib.parse.quote(json.dumps({"Statement": [allow("secretsmanager:GetSecretValue", SECRET)]}))
    stubber.add_response("get_role_policy", {"RoleName": "ecsTaskExecutionRole", "PolicyName": "grant", "PolicyDocument": document})
    stubber.add_response("list_attached_role_policies", {"AttachedPolicies": [{"PolicyName": "SecretsManagerReadWrite", "PolicyArn": managed_arn}],
                                                         "IsTruncated": False})
    for arn, statement in ((managed_arn, allow("secretsmanager:*", "*")), (boundary_arn, allow("*", "*"))):
        stubber.add_response("get_policy", {"Policy": {"PolicyName": arn.rsplit("/", 1)[-1], "Arn": arn, "DefaultVersionId": "v3"}})
        stubber.add_response("get_policy_version", {"PolicyVersion": {"Document": urllib.parse.quote(json.dumps({"Statement": [statement]})),
                                                                      "VersionId": "v3", "IsDefaultVersion": True}})
    with stubber:
        policies = reader.role_policies("ecsTaskExecutionRole")
    assert [(p.name, p.kind) for p in policies] == [("grant", "inline"), ("SecretsManagerReadWrite", "attached"), ("boundary", "boundary")]
    assert evaluate(policies, "secretsmanager:GetSecretValue", SECRET, {}).decision == ALLOWED
    assert broad_grants(policies) == ["attached policy SecretsManagerReadWrite"]


def test_a_missing_role_is_none():
    client, stubber, reader = _stubbed_iam()
    stubber.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404)
    with stubber:
        assert reader.role_policies("gone") is None


# ---------------------------------------------------------------------------------------------
# The execution-role grant

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
READ = {"Sid": "ReadDatabaseSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [SECRET]}


def _decrypt(key_arn, region="us-east-1"):
    return {"Sid": "DecryptDatabaseSecret", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}}


@pytest.mark.parametrize("key", [None, "", "  ", "alias/aws/secretsmanager", "arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager"])
def test_the_aws_managed_key_needs_no_kms_statement(key):
    assert kms_key_arn(key, SECRET) is None
    assert grant_policy(SECRET, key) == {"Version": "2012-10-17", "Statement": [READ]}


def test_a_customer_key_is_granted_through_secrets_manager_only():
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}"
    assert grant_policy(SECRET, KEY_ID) == {"Version": "2012-10-17", "Statement": [READ, _decrypt(key_arn)]}
    # A key ARN is kept as given, even in another account (a key shared with this one).
    shared = f"arn:aws:kms:us-east-1:210987654321:key/{KEY_ID}"
    assert grant_policy(SECRET, shared)["Statement"][1] == _decrypt(shared)


def test_a_key_id_takes_the_secrets_partition_region_and_account():
    secret = "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:rds!cluster-1-AbCdEf"
    assert kms_key_arn(f" {KEY_ID} ", secret) == f"arn:aws-cn:kms:cn-north-1:111122223333:key/{KEY_ID}"
    decrypt = grant_policy(secret, "mrk-" + "0" * 32)["Statement"][1]
    assert decrypt["Resource"] == ["arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-" + "0" * 32]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.cn-north-1.amazonaws.com"}}


@pytest.mark.parametrize("alias", ["alias/my-key", "arn:aws:kms:us-east-1:123456789012:alias/my-key"])
def test_a_customer_alias_is_refused(alias):
    with pytest.raises(ValueError, match="is an alias: an IAM policy cannot grant kms:Decrypt by alias"):
        kms_key_arn(alias, SECRET)


def test_policies_compare_as_iam_reads_them():
    wanted = grant_policy(SECRET, KEY_ID)
    reordered = {"Statement": [dict(reversed(list(s.items()))) for s in reversed(wanted["Statement"])], "Version": "2012-10-17"}
    reordered["Statement"][1]["Action"] = "secretsmanager:GetSecretValue"  # one string for a one-item list
    assert same_policy(reordered, wanted)
    # What IAM's GetRolePolicy answers when boto3 does not decode it: URL-encoded JSON text.
    assert same_policy(urllib.parse.quote(json.dumps(reordered)), wanted)
    assert not same_policy(grant_policy(SECRET), wanted)
    assert not same_policy(grant_policy(SECRET + "x", KEY_ID), wanted)
    assert not same_policy(None, wanted) and same_policy(None, None)


def test_role_names_from_names_and_arns_once_each():
    assert role_names(["ecsTaskExecutionRole", "arn:aws:iam::123456789012:role/service-role/worker", ROLE, "worker"]) == [
        "ecsTaskExecutionRole", "worker"]


def _grant_params(**overrides):
    params = {"roles": ["ecsTaskExecutionRole"], "policy_name": "ecsrds-connect-demo", "secret_arn": SECRET, "secret_kms_key_id": None,
              "state": "present"}
    params.update(overrides)
    return params


def test_grant_inputs_are_named_as_given():
    assert grant_problems(_grant_params()) == []
    assert grant_problems(_grant_params(state="absent", secret_arn=None, roles=[])) == []
    problems = grant_problems(_grant_params(roles=["ok", "bad role", "arn:aws:iam::123:role/x", ""], policy_name="a b",
                                            secret_arn="arn:aws:iam::123456789012:role/x", secret_kms_key_id="alias/shop"))
    assert problems == [
        "roles entry 'bad role' is not an IAM role name or role ARN",
        "roles entry 'arn:aws:iam::123:role/x' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
        "roles has an empty entry ''",
        "policy_name 'a b' is not an IAM policy name (1-128 letters, digits and +=,.@_-)",
        "secret_arn 'arn:aws:iam::123456789012:role/x' is not a Secrets Manager secret ARN "
        "(arn:aws:secretsmanager:<region>:<account>:secret:<name>)",
        "secret_kms_key_id 'alias/shop' is an alias: an IAM policy cannot grant kms:Decrypt by alias; give the key ARN or key id",
    ]
    assert grant_problems(_grant_params(secret_arn=None)) == ["secret_arn is required with state=present"]


def _no_such_entity(operation, message):
    # IAM's answer for a missing role or inline policy: HTTP 404, code NoSuchEntity.
    return ClientError({"Error": {"Type": "Sender", "Code": "NoSuchEntity", "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 404}}, operation)


class FakeIam:
    """IAM's role and inline-policy calls over a dict {role: {policy name: document}}, recording
    each request as (operation, role)."""

    def __init__(self, roles):
        self.roles = {name: dict(policies) for name, policies in roles.items()}
        self.calls = []
        self.lost_deletes = 0

    def _role(self, operation, name):
        if name not in self.roles:
            raise _no_such_entity(operation, f"The role with name {name} cannot be found.")
        return self.roles[name]

    def get_role_policy(self, aws_retry=False, RoleName=None, PolicyName=None):
        self.calls.append(("GetRolePolicy", RoleName))
        policies = self._role("GetRolePolicy", RoleName)
        if PolicyName not in policies:
            raise _no_such_entity("GetRolePolicy", f"The role policy with name {PolicyName} cannot be found.")
        # boto3 hands the document over decoded, as a dict.
        return {"RoleName": RoleName, "PolicyName": PolicyName, "PolicyDocument": json.loads(json.dumps(policies[PolicyName]))}

    def get_role(self, aws_retry=False, RoleName=None):
        self.calls.append(("GetRole", RoleName))
        self._role("GetRole", RoleName)
        return {"Role": {"RoleName": RoleName, "Arn": f"arn:aws:iam::123456789012:role/{RoleName}"}}

    def put_role_policy(self, aws_retry=False, RoleName=None, PolicyName=None, PolicyDocument=None):
        self.calls.append(("PutRolePolicy", RoleName))
        self._role("PutRolePolicy", RoleName)[PolicyName] = json.loads(PolicyDocument)
        return {}

    def delete_role_policy(self, aws_retry=False, RoleName=None, PolicyName=None):
        self.calls.append(("DeleteRolePolicy", RoleName))
        policies = self._role("DeleteRolePolicy", RoleName)
        if PolicyName not in policies:
            raise _no_such_entity("DeleteRolePolicy", f"The role policy with name {PolicyName} cannot be found.")
        del policies[PolicyName]
        if self.lost_deletes:
            # Applied, but the answer was lost: what the caller sees next is its resend.
            self.lost_deletes -= 1
            return self.delete_role_policy(RoleName=RoleName, PolicyName=PolicyName)
        return {}


POLICY_NAME = "ecsrds-connect-demo"


def granting(iam, params, check_mode):
    """run_grant as ecs_execution_role_grant runs it, its Outcome read as (changed, grant, diff)."""
    outcome = run_grant(Clients({"iam": iam}.__getitem__, "us-east-1"), params, check_mode, True)
    return outcome.changed, outcome.result["grant"], outcome.diff


def test_a_no_op_reads_each_role_once_and_writes_nothing():
    wanted = grant_policy(SECRET, KEY_ID)
    reordered = dict(wanted, Statement=list(reversed(wanted["Statement"])))
    iam = FakeIam({"api-exec": {POLICY_NAME: reordered, "other": {}}, "worker-exec": {POLICY_NAME: wanted}})
    roles = ["api-exec", "arn:aws:iam::123456789012:role/ecs/worker-exec", "arn:aws:iam::123456789012:role/api-exec"]
    changed, grant, diff = granting(iam, _grant_params(roles=roles, secret_kms_key_id=KEY_ID), False)
    assert changed is False
    assert iam.calls == [("GetRolePolicy", "api-exec"), ("GetRolePolicy", "worker-exec")]
    assert grant == {"policy_name": POLICY_NAME, "policy_document": wanted,
                     "roles": [{"role_name": "api-exec", "changed": False}, {"role_name": "worker-exec", "changed": False}]}
    assert diff["before"]["api-exec"] == reordered and diff["after"]["api-exec"] == wanted


@pytest.mark.parametrize("check_mode", [True, False])
def test_missing_or_different_policies_are_put_and_check_mode_only_predicts(check_mode):
    old = grant_policy(SECRET)
    iam = FakeIam({"api-exec": {}, "worker-exec": {POLICY_NAME: old}, "same-exec": {POLICY_NAME: grant_policy(SECRET, KEY_ID)}})
    params = _grant_params(roles=["api-exec", "worker-exec", "same-exec"], secret_kms_key_id=KEY_ID)
    changed, grant, diff = granting(iam, params, check_mode)
    assert changed is True
    assert [r["changed"] for r in grant["roles"]] == [True, True, False]
    reads = [("GetRolePolicy", "api-exec"), ("GetRolePolicy", "worker-exec"), ("GetRolePolicy", "same-exec"), ("GetRole", "api-exec")]
    writes = [] if check_mode else [("PutRolePolicy", "api-exec"), ("PutRolePolicy", "worker-exec")]
    assert iam.calls == reads + writes
    assert diff["before"] == {"api-exec": None, "worker-exec": old, "same-exec": grant_policy(SECRET, KEY_ID)}
    assert diff["after"] == dict.fromkeys(["api-exec", "worker-exec", "same-exec"], grant_policy(SECRET, KEY_ID))
    expected = old if check_mode else grant_policy(SECRET, KEY_ID)
    assert iam.roles["worker-exec"][POLICY_NAME] == expected


def test_a_missing_role_is_named_before_any_write():
    iam = FakeIam({"api-exec": {}})
    with pytest.raises(EcsRdsError, match=r"IAM role\(s\) gone-exec not found"):
        granting(iam, _grant_params(roles=["api-exec", "arn:aws:iam::123456789012:role/gone-exec"]), False)
    assert iam.calls == [("GetRolePolicy", "api-exec"), ("GetRolePolicy", "gone-exec"), ("GetRole", "api-exec"), ("GetRole", "gone-exec")]
    assert iam.roles == {"api-exec": {}}


@pytest.mark.parametrize("check_mode", [True, False])
def test_absent_deletes_only_where_the_policy_is(check_mode):
    iam = FakeIam({"api-exec": {POLICY_NAME: grant_policy(SECRET), "other": {}}, "worker-exec": {"other": {}}})
    params = _grant_params(roles=["api-exec", "worker-exec", "gone-exec"], secret_arn=None, state="absent")
    changed, grant, diff = granting(iam, params, check_mode)
    assert changed is True and grant["policy_document"] is None
    assert [r["changed"] for r in grant["roles"]] == [True, False, False]
    # A role that is gone has no policy left to delete: no GetRole, no error.
    reads = [("GetRolePolicy", "api-exec"), ("GetRolePolicy", "worker-exec"), ("GetRolePolicy", "gone-exec")]
    assert iam.calls == reads + ([] if check_mode else [("DeleteRolePolicy", "api-exec")])
    assert diff == {"before": {"api-exec": grant_policy(SECRET), "worker-exec": None, "gone-exec": None},
                    "after": {"api-exec": None, "worker-exec": None, "gone-exec": None}}
    assert set(iam.roles["api-exec"]) == ({POLICY_NAME, "other"} if check_mode else {"other"})


def test_a_resent_delete_that_finds_nothing_is_done():
    iam = FakeIam({"api-exec": {POLICY_NAME: grant_policy(SECRET)}})
    iam.lost_deletes = 1
    changed = granting(iam, _grant_params(state="absent", roles=["api-exec"]), False)[0]
    assert changed is True and iam.roles["api-exec"] == {}
    assert iam.calls == [("GetRolePolicy", "api-exec"), ("DeleteRolePolicy", "api-exec"), ("DeleteRolePolicy", "api-exec")]


def test_an_alias_reaching_the_job_is_refused_before_any_call():
    iam = FakeIam({"api-exec": {}})
    with pytest.raises(EcsRdsError, match="secret_kms_key_id 'alias/shop' is an alias"):
        granting(iam, _grant_params(roles=["api-exec"], secret_kms_key_id="alias/shop"), False)
    assert iam.calls == []


def test_grant_requests_are_valid_for_botocore():
    """The same job through botocore's Stubber: request parameters checked against IAM's model,
    answers shaped like IAM's documented ones."""
    client, stubber = _stubbed_iam()[:2]
    stubber.add_client_error("get_role_policy", service_error_code="NoSuchEntity", http_status_code=404,
                             expected_params={"RoleName": "ecsTaskExecutionRole", "PolicyName": POLICY_NAME})
    stubber.add_response("get_role", {"Role": {"Path": "/", "RoleName": "ecsTaskExecutionRole", "RoleId": "AROAEXAMPLE0000000000", "Arn": ROLE,
                                               "CreateDate": "2024-08-09T00:00:00Z"}}, {"RoleName": "ecsTaskExecutionRole"})
    stubber.add_response("put_role_policy", {}, {"RoleName": "ecsTaskExecutionRole", "PolicyName": POLICY_NAME,
                                                 "PolicyDocument": json.dumps(grant_policy(SECRET, KEY_ID))})
    with stubber:
        changed = granting(RetryingBotoClientWrapper(client, aws_retry), _grant_params(roles=[ROLE], secret_kms_key_id=KEY_ID), False)[0]
    stubber.assert_no_pending_responses()
    assert changed is True


# ---------------------------------------------------------------------------------------------
# The service role's grant: its inputs -> ecs_execution_role_grant's options


def service_inputs(**overrides):
    given = dict(service_ecs_cluster="shop", service_ecs_services=["api"], service_secret_arn=SECRET)
    return role_inputs("service", **dict(given, **overrides))


def test_the_policy_is_named_after_the_deployment_in_characters_iam_takes():
    assert grant_policy_name(service_inputs(service_db_cluster_identifier="shop-db")) == "ecsrds-connect-shop-db"
    assert grant_policy_name(service_inputs(service_deployment_id="team@a b", service_db_cluster_identifier="shop-db")) == "ecsrds-connect-team@a-b"
    # Without a deployment or cluster: the secret's name.
    assert grant_policy_name(service_inputs()) == "ecsrds-connect-rds-cluster-1234-AbCdEf"
    assert grant_policy_name(service_inputs(service_execution_role_policy_name="given")) == "given"
    assert len(grant_policy_name(service_inputs(service_deployment_id="d" * 200))) == 128
    assert grant_policy_name(service_inputs(service_secret_arn=None)) == ""


def test_each_execution_role_is_granted_once_and_kms_decrypt_only_for_a_customer_key():
    revisions = [{"task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/path/execRole"}},
                 {"task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/execRole"}}, {"task_definition": {}}]
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}"
    options = grant_options(service_inputs(service_db_cluster_identifier="shop-db", service_secret_kms_key_id=key_arn), revisions)
    assert options == {"roles": ["execRole"], "policy_name": "ecsrds-connect-shop-db", "secret_arn": SECRET, "secret_kms_key_id": key_arn,
                       "state": "present"}
    assert grant_problems(options) == []
    # RDS names the AWS managed key by a plain key ARN: the database role says which kind it is.
    aws_managed = grant_options(service_inputs(service_secret_kms_key_id=key_arn, service_secret_kms_key_manager="AWS"), revisions)
    customer = grant_options(service_inputs(service_secret_kms_key_id=key_arn, service_secret_kms_key_manager="CUSTOMER"), revisions)
    assert aws_managed["secret_kms_key_id"] is None and customer["secret_kms_key_id"] == key_arn
    assert grant_options(service_inputs(), [])["roles"] == [] and grant_options(service_inputs(), [])["secret_kms_key_id"] is None


def test_the_teardown_takes_the_policy_off_the_roles_the_services_run_afterwards():
    restored = [{"running_task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/execRole"}}, {"running_task_definition": None},
                {"running_task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/execRole"}}]
    options = grant_removal_options(service_inputs(service_db_cluster_identifier="shop-db"), restored)
    assert options == {"roles": ["execRole"], "policy_name": "ecsrds-connect-shop-db", "state": "absent"}
    assert grant_problems(options) == []


def test_a_release_keeps_the_grant_on_a_role_a_wired_service_still_uses():
    released = [{"running_task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/shared"}},
                {"running_task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/batchRole"}}]
    still_wired = [{"task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/shared"}}]
    options = grant_removal_options(service_inputs(service_db_cluster_identifier="shop-db"), released, still_wired)
    assert options["roles"] == ["batchRole"] and options["state"] == "absent"
    assert grant_removal_options(service_inputs(service_db_cluster_identifier="shop-db"), released, [])["roles"] == ["shared", "batchRole"]
