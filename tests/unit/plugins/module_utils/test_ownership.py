"""ownership: who created a resource, who uses it, and what teardown may do with it."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import (
    DELETE,
    NOT_OURS,
    RELEASE,
    adoption_tags,
    deployment_id_problem,
    release_plan,
    rule_description,
    rule_owners,
    secret_name,
    service_deployment_id,
    usage_tags,
)


def test_created_and_adopted_are_recorded_distinctly():
    assert usage_tags("shop", created=True) == {"ecsrds.connect/created-by": "shop", "ecsrds.connect/deployment:shop": "created"}
    assert usage_tags("shop", created=False) == {"ecsrds.connect/deployment:shop": "adopted"}
    assert adoption_tags(usage_tags("shop", created=True), "shop") == {}
    assert adoption_tags(usage_tags("shop", created=True), "billing") == {"ecsrds.connect/deployment:billing": "adopted"}


@pytest.mark.parametrize(
    "tags, deployment, plan",
    [
        ({}, "shop", NOT_OURS),
        # A created-by tag alone does not make it ours: the deployment never marked it.
        ({"ecsrds.connect/created-by": "billing", "ecsrds.connect/deployment:billing": "created"}, "shop", NOT_OURS),
        ({"ecsrds.connect/created-by": "shop", "ecsrds.connect/deployment:shop": "created"}, "shop", DELETE),
        # The creator left first: the last adopter deletes what this collection created.
        ({"ecsrds.connect/created-by": "shop", "ecsrds.connect/deployment:billing": "adopted"}, "billing", DELETE),
        ({"ecsrds.connect/created-by": "shop", "ecsrds.connect/deployment:shop": "created",
          "ecsrds.connect/deployment:billing": "adopted"}, "shop", RELEASE),
        # Existed before: never deleted, whoever is last.
        ({"Name": "theirs", "ecsrds.connect/deployment:shop": "adopted"}, "shop", RELEASE),
    ],
)
def test_release_plan(tags, deployment, plan):
    assert release_plan(tags, deployment) == plan


def test_rule_descriptions_carry_the_deployments():
    text = "ecsrds.connect: PostgreSQL from the ECS service"
    assert rule_description(text, ["shop"]) == text + " [ecsrds:shop]"
    assert rule_owners(rule_description(text, ["shop", "billing"])) == (text, {"shop", "billing"})
    assert rule_owners(text) == (text, set())
    assert rule_owners(None) == ("", set())


@pytest.mark.parametrize("value", ["", "a b", "-x", "x" * 64, None, "a/b", "ü"])
def test_deployment_id_problem_names_the_option(value):
    assert "deployment_id" in deployment_id_problem(value)


def test_cluster_identifiers_are_valid_deployment_ids():
    assert deployment_id_problem("shop-orders-db") is None and deployment_id_problem("billing.v2_db") is None


def test_the_service_role_works_for_its_deployment_else_the_cluster_else_the_secret():
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-xYz"
    assert secret_name(secret) == "rds!cluster-1a2b-xYz" and secret_name(None) == "" and secret_name("not-an-arn") == ""
    inputs = {"service_deployment_id": "", "service_db_cluster_identifier": "", "service_secret_arn": secret}
    # In the characters ECS tag values accept.
    assert service_deployment_id(inputs) == "rds-cluster-1a2b-xYz"
    assert service_deployment_id(dict(inputs, service_db_cluster_identifier="shop-db")) == "shop-db"
    assert service_deployment_id(dict(inputs, service_deployment_id="team/a b", service_db_cluster_identifier="shop-db")) == "team-a-b"
    assert service_deployment_id({}) == ""
