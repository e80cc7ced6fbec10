"""The harness itself: it must refuse non-loopback endpoints and count write calls correctly."""

import pytest

from support.sandbox import assert_loopback, safe_aws_env, write_calls


@pytest.mark.parametrize("endpoint", ["https://rds.us-east-1.amazonaws.com", "http://169.254.169.254", "http://10.0.0.5:5000"])
def test_non_loopback_endpoints_are_refused(endpoint):
    with pytest.raises(RuntimeError, match="Refusing"):
        assert_loopback(endpoint)
    with pytest.raises(RuntimeError):
        safe_aws_env(endpoint)


def test_environment_is_fake_and_metadata_is_off():
    env = safe_aws_env("http://127.0.0.1:5000", base={"AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "x"})
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env


def test_recorder_counts_reads_and_writes(moto):
    moto.start_recording()
    ec2 = moto.client("ec2")
    ec2.describe_vpcs()
    ec2.create_vpc(CidrBlock="10.1.0.0/16")
    ecs = moto.client("ecs")
    ecs.list_clusters()
    ecs.create_cluster(clusterName="c")
    calls = moto.stop_recording()
    assert [(c.service, c.operation) for c in calls] == [
        ("ec2", "DescribeVpcs"), ("ec2", "CreateVpc"), ("ecs", "ListClusters"), ("ecs", "CreateCluster")]
    assert [c.operation for c in write_calls(calls)] == ["CreateVpc", "CreateCluster"]
