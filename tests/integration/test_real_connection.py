"""The proof the demo gives, for two services: a real PostgreSQL (pgserver) whose master login is what
the cluster's managed secret holds; each service's new task stood in for, its variables resolved from
the revision the way the ECS agent resolves them, a real connection and query with them, and the log
check of site.yml finding the line the app logs once connected. Emulated: the AWS APIs (moto), the
tasks, and the endpoint's DNS (the URL's host stands for the local server)."""

from __future__ import annotations

import json

import pytest
import yaml

from support.demo_environment import TaskStandIn, build_demo_environment
from support.real_database import RealDatabase, TaskStartError, resolve_container
from support.sandbox import REPO_ROOT

SITE = REPO_ROOT / "site.yml"
DEMO_VARS = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
VERIFY_LOG_PATTERN = r"HikariPool-\d+ - Added connection org\.postgresql"


def _secret(moto):
    [cluster] = moto.client("rds").describe_db_clusters()["DBClusters"]
    return json.loads(moto.client("secretsmanager").get_secret_value(SecretId=cluster["MasterUserSecret"]["SecretArn"])["SecretString"])


@pytest.fixture
def database():
    server = RealDatabase().start()
    yield server
    server.stop()


def test_two_services_connect_to_a_real_postgresql_with_what_the_revision_resolves_to(moto, play, database):
    env = build_demo_environment(moto.client, service_count=2)
    services = [env["service"], env["extra_services"][0]]
    stand_in = TaskStandIn(moto.client, database, services=services)
    stand_in.start()
    try:
        run = play(SITE, extra_vars=dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto.endpoint, ecsrds_ecs_services=services,
                                         ecsrds_verify_log_pattern=VERIFY_LOG_PATTERN))
    finally:
        stand_in.stop()
    assert run.rc == 0, run.stdout[-3000:]
    outcomes = dict(stand_in.outcomes)
    # Each service's task connected once, as the login the managed secret names (moto's says admin, AWS's
    # the MasterUsername), to PostgreSQL 16.
    login = _secret(moto)["username"]
    assert sorted(outcomes) == sorted(services), stand_in.outcomes
    assert all(done["connected"] == f"{login}@PostgreSQL {database.version}" for done in outcomes.values()), outcomes
    assert database.version.startswith("16")
    # The log check found, for each service, the line the stand-in logged after connecting.
    checks = [t for t in run.tasks if t.action.endswith("cloudwatch_logs_expect") and not t.result.get("skipped")]
    assert checks and all("Added connection org.postgresql" in r["line"] for t in checks for r in t.result.get("results", [t.result])), checks


def test_what_the_agent_refuses_and_what_the_server_refuses(moto, database):
    """The agent's half and the server's half on their own: a JSON key the secret does not hold stops
    the task with the agent's ResourceInitializationError (AWS: "retrieved secret from Secrets Manager
    did not contain json key"); a version stage that the secret does not have is the service call's
    error; a password that is not the secret's is refused by PostgreSQL itself."""
    rds = moto.client("rds")
    cluster = rds.create_db_cluster(DBClusterIdentifier="real-db", Engine="aurora-postgresql", MasterUsername="postgres",
                                    ManageMasterUserPassword=True)["DBCluster"]
    secret_arn = cluster["MasterUserSecret"]["SecretArn"]
    assert database.follow_cluster(moto.client, "real-db") is True and database.follow_cluster(moto.client, "real-db") is False
    url = {"name": "DATABASE_URL", "value": f"jdbc:postgresql://{cluster['Endpoint']}:5432/postgres"}
    wired = {"environment": [url], "secrets": [{"name": "DATABASE_USERNAME", "valueFrom": f"{secret_arn}:username::"},
                                               {"name": "DATABASE_PASSWORD", "valueFrom": f"{secret_arn}:password:AWSCURRENT:"}]}
    variables = resolve_container(moto.client, wired)
    login = _secret(moto)["username"]
    assert database.connect_as_the_application(variables) == (login, database.version)

    with pytest.raises(TaskStartError, match=r"^ResourceInitializationError: .*did not contain json key pasword$"):
        resolve_container(moto.client, dict(wired, secrets=[{"name": "DATABASE_PASSWORD", "valueFrom": f"{secret_arn}:pasword::"}]))
    with pytest.raises(TaskStartError, match=rf"^ResourceInitializationError: .*failed to fetch secret {secret_arn} from secrets manager: "):
        resolve_container(moto.client, dict(wired, secrets=[{"name": "DATABASE_PASSWORD", "valueFrom": f"{secret_arn}:password:AWSPENDING:"}]))
    with pytest.raises(Exception, match="password authentication failed"):
        database.connect_as_the_application(dict(variables, DATABASE_PASSWORD="not-the-secret"))

    # RDS rotates the secret: the login follows, the old password stops working.
    moto.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps({"username": login, "password": "rotated-1"}))
    assert database.follow_cluster(moto.client, "real-db") is True
    with pytest.raises(Exception, match="password authentication failed"):
        database.connect_as_the_application(variables)
    assert database.connect_as_the_application(resolve_container(moto.client, wired))[0] == login
