"""The roles in a playbook of the user's own: README's "Using the roles in your own playbook", run as
it stands there (only the region, the names and the loopback endpoint pointed at the demo
environment on moto). It converges, its re-run changes nothing and writes nothing, and site.yml with
the same names finds the environment it converged already as it asks (the roles stand alone: they
take only their documented inputs)."""

from __future__ import annotations

import re

import yaml

from support.demo_environment import build_demo_environment
from support.sandbox import REPO_ROOT, write_calls

SITE = REPO_ROOT / "site.yml"
DB = "shop-db"


def own_playbook(endpoint):
    """The README's playbook, with the endpoint of the moto server added to its module_defaults."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Using the roles in your own playbook", 1)[1]
    [block] = re.findall(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    plays = yaml.safe_load(block)
    plays[0]["module_defaults"]["group/ecsrds.connect.aws"]["endpoint_url"] = endpoint
    return plays


def test_the_readme_playbook_converges_what_site_yml_would_and_a_rerun_changes_nothing(moto, play):
    env = build_demo_environment(moto.client)
    names = {"shop_region": "us-east-1", "shop_ecs_cluster": env["cluster"], "shop_services": [env["service"]], "shop_db": DB}

    first = play(own_playbook(moto.endpoint), extra_vars=names)
    assert first.rc == 0, first.stdout[-4000:]
    assert first.changed > 0
    rds, ecs, iam = moto.client("rds"), moto.client("ecs"), moto.client("iam")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=DB)["DBClusters"][0]
    service = ecs.describe_services(cluster=env["cluster"], services=[env["service"]])["services"][0]
    container = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]
    assert {e["name"]: e["value"] for e in container["environment"]}["DATABASE_URL"] == f"jdbc:postgresql://{cluster['Endpoint']}:5432/postgres"
    assert iam.list_role_policies(RoleName=env["execution_role_name"])["PolicyNames"] == [f"ecsrds-connect-{DB}"]

    moto.start_recording()
    again = play(own_playbook(moto.endpoint), extra_vars=names)
    calls = moto.stop_recording()
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, [t.name for t in again.tasks if t.changed]
    assert write_calls(calls) == []

    # site.yml with the same names: its one-pass check finds every step as it would ask, so the
    # playbook built exactly what site.yml builds.
    site_vars = {"ecsrds_aws_region": "us-east-1", "ecsrds_aws_endpoint_url": moto.endpoint, "ecsrds_ecs_cluster": env["cluster"],
                 "ecsrds_ecs_services": [env["service"]], "ecsrds_db_cluster_identifier": DB}
    moto.start_recording()
    site = play(SITE, extra_vars=site_vars, check=True)
    calls = moto.stop_recording()
    assert site.rc == 0, site.stdout[-3000:]
    [check] = [t.result for t in site.tasks if t.action == "ecsrds.connect.deployment_check"]
    assert check["plan"]["in_sync"] is True, check["plan"]["reason"]
    assert site.changed == 0 and write_calls(calls) == []
