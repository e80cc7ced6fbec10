"""iam: our evaluation of identity policies (Allow/Deny, wildcards, NotAction/NotResource,
conditions, boundaries), the reading of SimulatePrincipalPolicy's answers, broad grants, and the
IAM reads through botocore's Stubber with responses shaped like IAM's documented ones."""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.ecsrds.connect.plugins.module_utils.common import aws_retry
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
    resource_matches,
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
