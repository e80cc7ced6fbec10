"""deployment: site.yml's one-pass deployment check, a table over the roles' steps. Each step's
derivation and runner is unit-tested in its area's tests; here what the pass adds: it gives each
step the roles' inputs as site.yml wires them, stops at the first step with something to do (or a
wait, or a rollout), publishes what the roles would, and says why it stopped. Plus the summary."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from ansible_collections.ecsrds.connect.plugins.module_utils import deployment, published
from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError, Outcome
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import ROLES_DIR, role_inputs

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-xYz"
TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4"
ROLE = "arn:aws:iam::123456789012:role/execRole"
DISCOVERED = {
    "services": {
        "api": {"task_definition": TD, "settled": True, "subnets": ["subnet-a", "subnet-b"], "security_groups": ["sg-app"]},
        "worker": {"task_definition": TD, "settled": True, "subnets": ["subnet-b", "subnet-c"], "security_groups": ["sg-app"]},
    },
    "subnets": [],
}
NETWORK = {"vpc_id": "vpc-1", "endpoint": {"changed": False, "endpoint": {"vpc_endpoint_id": "vpce-1", "state": "available"}},
           "db_security_group": {"group_id": "sg-db"}}
CONNECTION = {"endpoint": "db.cluster-x", "port": 5433, "database_name": None, "secret_arn": SECRET, "secret_kms_key_id": "k",
              "secret_kms_key_manager": "AWS"}


def inputs(**overrides):
    """The four roles' inputs as site.yml sets them for two services."""
    return role_inputs(network_ecs_cluster="shop", network_ecs_services=["api", "worker"], network_deployment_id="shop-db",
                       database_cluster_identifier="shop-db", service_ecs_cluster="shop", service_ecs_services=["api", "worker"],
                       service_db_cluster_identifier="shop-db", rotation_ecs_cluster="shop", rotation_ecs_services=["api", "worker"],
                       rotation_db_cluster_identifier="shop-db", **overrides)


class Steps:
    """Each step's runner answering as given (their decisions are unit-tested in their areas): what
    the pass must do is give them the right options and act on their outcome."""

    def __init__(self, monkeypatch, changed=(), pending=None, registered=False, settled=True, failing=None, endpoint_state="available"):
        self.options = {}
        answers = {
            "network": dict(NETWORK, endpoint={"changed": False, "endpoint": {"vpc_endpoint_id": "vpce-1", "state": endpoint_state}}),
            "database": {"cluster": {"endpoint": "db.cluster-x"}, "connection": CONNECTION, "pending": pending},
            "task_definitions": {"task_definitions": [{"changed": registered, "task_definition_arn": None if registered else TD, "revision": 4,
                                                       "task_definition": {"execution_role_arn": ROLE}}] * 2},
            "grant": {"grant": {}},
            "rotation": {"rotation": {"state_machine_arn": "arn:aws:states:eu-west-1:123456789012:stateMachine:m"}},
        }

        def runner(name):
            def run(clients, options, check_mode, diff_mode):
                assert check_mode is True, "the pass never writes"
                self.options[name] = options
                if failing == name:
                    raise EcsRdsError(message=f"Failed to describe {name}")
                return Outcome(name in changed, answers[name], None, [f"change {name}"] if name in changed else [])
            return run

        monkeypatch.setattr(deployment, "STEPS", tuple(dataclasses.replace(step, run=runner(step.name)) for step in deployment.STEPS))
        self.discovered = dict(DISCOVERED, services={name: dict(s, settled=settled) for name, s in DISCOVERED["services"].items()})

    def check(self, role_inputs_=None):
        return deployment.check_deployment(object(), role_inputs_ or inputs(), self.discovered)


def test_a_deployment_with_nothing_to_do_publishes_what_the_roles_would(monkeypatch):
    steps = Steps(monkeypatch)
    plan = steps.check()
    assert plan["in_sync"] is True and plan["reason"] is None
    assert [s["step"] for s in plan["steps"]] == ["network", "database", "task_definitions", "grant", "rotation"]
    facts = plan["facts"]
    assert facts["network__db_security_group_id"] == "sg-db" and facts["network__secretsmanager_endpoint_id"] == "vpce-1"
    # The URL's port and database are the cluster's, as RDS reports them.
    assert facts["database__port"] == 5433 and facts["database__name"] == "postgres" and facts["database__secret_arn"] == SECRET
    assert [(r["service"], r["deployed"]) for r in facts["service__results"]] == [("api", False), ("worker", False)]
    assert facts["rotation__redeploy"]["state_machine_arn"].endswith(":stateMachine:m")


def test_each_step_gets_the_inputs_site_yml_wires_from_the_facts_before_it(monkeypatch):
    steps = Steps(monkeypatch)
    assert steps.check()["in_sync"] is True
    database, revisions, grant = steps.options["database"], steps.options["task_definitions"], steps.options["grant"]
    assert database["db_subnet_group_subnet_ids"] == ["subnet-a", "subnet-b", "subnet-c"] and database["vpc_security_group_ids"] == ["sg-db"]
    assert revisions["environment"]["DATABASE_URL"] == "jdbc:postgresql://db.cluster-x:5433/postgres"
    assert revisions["secret_arn"] == SECRET and [entry["task_definition"] for entry in revisions["task_definitions"]] == [TD, TD]
    # The AWS managed key (RDS names it by a plain key ARN) needs no kms:Decrypt.
    assert grant["roles"] == ["execRole"] and grant["secret_kms_key_id"] is None
    assert steps.options["rotation"]["secret_arn"] == SECRET
    # Validated as the modules hold them: defaults filled in.
    assert database["state"] == "present" and revisions["purge_secrets"] is False


def test_the_wiring_is_site_yml_s():
    """Each wired input is a declared input of its role, set from a fact the step before publishes."""
    facts = set(deployment.network.access_facts(NETWORK, {"subnet_ids": [], "endpoint": {"source_security_group_ids": []}}))
    facts |= set(deployment.rds.cluster_facts({"connection": CONNECTION}))
    [logins] = [step for step in deployment.STEPS if step.name == "logins"]
    facts |= set(logins.publish(deployment.Pass(inputs(), {}, {}, {}), {}, Outcome(False, {"logins": []})))
    for name, source in published.SITE_WIRING.items():
        fact = source[0] if isinstance(source, list) else source
        assert name in inputs() and fact in facts, name
    wired = published.wired(inputs(), {"network__db_security_group_id": None, "database__port": 5433})
    assert wired["database_security_group_ids"] == [None] and wired["service_db_port"] == 5433
    assert wired["service_secret_arn"] is None  # not published yet: the role's own default


def test_the_wiring_table_states_what_site_yml_passes():
    """The passes wire the roles as site.yml's role imports do: every input site.yml sets from a
    published fact (a plain "{{ fact }}" or ["{{ fact }}"]) is in the table, and nothing else; every
    input it sets to a value of its own is in SITE_SETTINGS."""
    play = yaml.safe_load((ROLES_DIR.parent / "playbooks" / "site.yml").read_text())
    imports = [task for part in play for task in part.get("tasks", []) if "ansible.builtin.import_role" in task]
    from_facts, settings = {}, {}
    for task in imports:
        for name, value in task.get("vars", {}).items():
            single = value[0] if isinstance(value, list) and len(value) == 1 else value
            fact = re.fullmatch(r"\{\{ (\w+__\w+) \}\}", single) if isinstance(single, str) else None
            if fact and not fact.group(1).startswith("site__"):
                from_facts[name] = [fact.group(1)] if isinstance(value, list) else fact.group(1)
            elif not isinstance(value, str) or "{{" not in value:
                settings[name] = value
    assert len(imports) == 4 and from_facts == published.SITE_WIRING
    # And what it sets to a value of its own: the converging pass runs the steps as site.yml's roles would.
    assert settings == published.SITE_SETTINGS


@pytest.mark.parametrize("answer, step, why", [
    ({"changed": ("network",)}, "network", "change network"),
    # site.yml creates the endpoint without waiting: while it settles the service role still has a wait to do.
    ({"endpoint_state": "pending"}, "network", "Secrets Manager endpoint vpce-1 is still pending"),
    ({"changed": ("database",)}, "database", "change database"),
    ({"pending": "cluster status 'modifying'"}, "database", "modifying"),
    ({"changed": ("task_definitions",)}, "task_definitions", "change task_definitions"),
    ({"settled": False}, "service", "api, worker to roll out"),
    ({"changed": ("grant",)}, "grant", "change grant"),
    ({"changed": ("rotation",)}, "rotation", "change rotation"),
])
def test_the_first_step_with_something_to_do_ends_the_pass(monkeypatch, answer, step, why):
    steps = Steps(monkeypatch, **answer)
    plan = steps.check()
    assert plan["in_sync"] is False and plan["facts"] == {}
    assert plan["reason"].startswith(f"{step}: ") and why in plan["reason"], plan["reason"]
    order = ["network", "database", "task_definitions", "grant", "rotation"]
    last = "task_definitions" if step == "service" else step
    assert list(steps.options) == order[: order.index(last) + 1]


def test_a_cluster_still_settling_is_something_to_do_though_site_yml_creates_it_without_waiting(monkeypatch):
    """site.yml's database role does not wait (published.SITE_SETTINGS, whatever database_wait says), its
    service role does: a cluster still settling keeps the roles running."""
    steps = Steps(monkeypatch, pending="cluster status 'modifying'")
    plan = steps.check(inputs(database_wait=True))
    assert plan["in_sync"] is False and plan["reason"] == "database: cluster status 'modifying'"
    assert steps.options["database"]["wait"] is False and steps.options["network"]["endpoint"]["wait"] is False


def test_a_failed_read_leaves_the_roles_to_run_and_report_it(monkeypatch):
    plan = Steps(monkeypatch, failing="grant").check()
    assert plan["in_sync"] is False and plan["reason"] == "grant: Failed to describe grant"


def test_what_the_pass_cannot_tell_leaves_the_roles_to_run(monkeypatch):
    steps = Steps(monkeypatch)
    # The network role looks the VPC up by name itself.
    assert steps.check(inputs(network_vpc_name="main"))["reason"] == "network: network_vpc_name is looked up by the network role itself"
    # Options the module would refuse: the role will say why.
    assert steps.check(inputs(network_db_port="many"))["reason"].startswith("network: its options do not validate")
    assert steps.options == {}


def test_a_step_that_runs_every_time_means_no_aws_read_at_all(monkeypatch):
    steps = Steps(monkeypatch)
    plan = steps.check(inputs(service_preflight_every_run=True))
    assert plan["in_sync"] is False and steps.options == {}
    assert deployment.always_runs(inputs(service_preflight=False, service_preflight_every_run=True)) is None


def test_a_service_released_but_still_wired_means_the_roles_run(monkeypatch):
    steps = Steps(monkeypatch)
    wired = {"released": {"old": {"task_definition": "arn:td/old:3", "container_name": "app", "wired": True}}}
    plan = deployment.check_deployment(None, inputs(service_release_services=["old"]), dict(steps.discovered, **wired))
    assert plan["in_sync"] is False and plan["reason"] == "service: old to release" and steps.options == {}
    assert deployment.still_to_release({"released": {"old": dict(wired["released"]["old"], wired=False)}}) is None


def test_the_summary_names_what_was_ensured_and_whether_the_roles_ran(monkeypatch):
    plan = Steps(monkeypatch).check()
    shown = published.summary(plan["facts"], plan)
    assert shown["deployment_check"] == "nothing to do: the roles were skipped"
    assert shown["revisions"] == {"api": TD, "worker": TD} and shown["port"] == 5433 and shown["db_security_group_id"] == "sg-db"
    assert published.summary(plan["facts"], {"in_sync": False, "reason": "grant: x"})["deployment_check"] == "grant: x"
    assert published.summary({}, None) == dict.fromkeys(shown, None) | {"revisions": {}, "deployment_check": "not asked",
                                                                        "services_no_longer_in_inputs": [], "services_released": [],
                                                                        "wiring_lost_on": {}}
    dropped = published.summary({"rotation__redeploy": {"state_machine_arn": "arn:sm", "services_dropped": ["legacy-worker", "old-api"]}})
    assert dropped["services_no_longer_in_inputs"] == ["legacy-worker", "old-api"]
    # Released in the same run: named as released, no longer as merely dropped. One already unwired
    # (its release loop entry unchanged) is not named again.
    released = published.summary({"rotation__redeploy": {"services_dropped": ["legacy-worker", "old-api"]},
                                  "service__released": {"results": [{"item": {"service": "legacy-worker"}, "changed": True},
                                                                    {"item": {"service": "gone"}, "changed": False}]}})
    assert released["services_released"] == ["legacy-worker"] and released["services_no_longer_in_inputs"] == ["old-api"]
    # The wiring put back on a revision that held none of it: named with that revision when the service
    # had been wired (the rotation redeploy named it), not on its first wiring nor on a changed value.
    registered = {"task_definitions": [
        {"name": "api", "changed": True, "wiring_missing": True, "previous_task_definition_arn": "arn:td/api:9"},
        {"name": "new", "changed": True, "wiring_missing": True, "previous_task_definition_arn": "arn:td/new:1"},
        {"name": "worker", "changed": True, "wiring_missing": False, "previous_task_definition_arn": "arn:td/worker:4"}]}
    drift = published.summary({"rotation__redeploy": {"services_before": ["api", "worker"]}, "service__task_definitions": registered})
    assert drift["wiring_lost_on"] == {"api": "arn:td/api:9"}
    # --check before the cluster exists: the steps planned with marked stand-ins; the summary says null.
    fresh = published.summary({"database__endpoint": "db.cluster-planned-by-check-mode.us-east-1.rds.amazonaws.com", "database__port": 5432,
                               "database__secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!cluster-planned-by-check-mode"})
    assert fresh["cluster_endpoint"] is None and fresh["secret_arn"] is None and fresh["port"] == 5432


class Converging:
    """Each step's runner answering as its module would on a first run: what the converging pass must
    do is run the steps the roles would run, in their order, for real, and act on their outcome."""

    def __init__(self, monkeypatch, pending=False, grant_changed=True, endpoint_changed=True, failing=None, problem=None):
        self.ran, self.options, self.masked = [], {}, []
        endpoint_state = "pending" if pending else "available"
        answers = {
            "network": dict(NETWORK, endpoint={"changed": endpoint_changed, "endpoint": {"vpc_endpoint_id": "vpce-1", "state": endpoint_state}}),
            "database": {"cluster": {"endpoint": "db.cluster-x", "db_cluster_identifier": "shop-db"}, "connection": CONNECTION,
                         "pending": "cluster status 'creating'" if pending else None},
            "logins_ready": {"ready": [], "pending": []},
            "logins": {"logins": [{"name": "api", "auth": "password", "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db/api-Ab"}]},
            "task_definitions": {"task_definitions": [{"changed": True, "task_definition_arn": f"{TD[:-1]}5", "revision": 5,
                                                       "task_definition": {"execution_role_arn": ROLE}}] * 2},
            "grant": {"grant": {}},
            "dependencies": {"ready": [], "pending": []},
            "preflight": {"services": [], "findings": [], "summary": {}},
            "rollouts": {"rollouts": [{"service": "api", "deployed": True}, {"service": "worker", "deployed": True}]},
            "rotation": {"rotation": {"state_machine_arn": "arn:aws:states:eu-west-1:123456789012:stateMachine:m"}},
        }

        def runner(name):
            def run(clients, options, check_mode, diff_mode):
                assert check_mode is False
                self.ran.append(name)
                self.options[name] = options
                if failing == name:
                    raise EcsRdsError(message="1 of 2 rollouts did not complete: (1) api: FAILED", rollouts=[{"service": "api"}])
                changed = name not in ("logins_ready", "dependencies", "preflight") and (name != "grant" or grant_changed)
                # Some modules give one before/after, others (the network access) a list of them.
                diff = [{"before": {}, "after": {name: 1}}] * (2 if name == "network" else 1)
                diff = (diff if name == "network" else diff[0]) if diff_mode else None
                return Outcome(changed, answers[name], diff, [f"{name} done"] if changed else [])
            return run

        steps = tuple(dataclasses.replace(step, run=runner(step.name)) for step in deployment.STEPS)
        if problem:
            steps = tuple(dataclasses.replace(step, problem=lambda options: problem) if step.name == "grant" else step for step in steps)
        monkeypatch.setattr(deployment, "STEPS", steps)
        # A first run: the services run revisions without the wiring.
        self.discovered = dict(DISCOVERED)

    def converge(self, role_inputs_=None, diff_mode=False):
        return deployment.converge_deployment(object(), role_inputs_ or inputs(), self.discovered, diff_mode, mask=self.masked.extend)


def test_the_converging_pass_runs_the_roles_steps_in_their_order_and_publishes_what_they_would(monkeypatch):
    steps = Converging(monkeypatch)
    result = steps.converge(diff_mode=True)
    assert result["converged"] is True and result["handed_over"] is None and result["changed"] is True
    # No login of its own and nothing left settling: no wait, as the service role skips both.
    assert steps.ran == ["network", "database", "task_definitions", "grant", "preflight", "rollouts", "rotation"]
    assert [entry["step"] for entry in result["steps"]] == steps.ran and result["steps"][0]["actions"] == ["network done"]
    # Each step's options as the roles derive them under site.yml's settings: nothing created waits.
    assert steps.options["network"]["endpoint"]["wait"] is False and steps.options["database"]["wait"] is False
    assert steps.options["task_definitions"]["environment"]["DATABASE_URL"] == "jdbc:postgresql://db.cluster-x:5433/postgres"
    assert [r["task_definition"] for r in steps.options["rollouts"]["rollouts"]] == [f"{TD[:-1]}5"] * 2
    assert [s["service"] for s in steps.options["preflight"]["services"]] == ["api", "worker"]
    assert steps.options["preflight"]["fail_on"] == "fail" and steps.options["rotation"]["secret_arn"] == SECRET
    facts = result["facts"]
    assert [(r["service"], r["task_definition_arn"], r["deployed"]) for r in facts["service__results"]] == [
        ("api", f"{TD[:-1]}5", True), ("worker", f"{TD[:-1]}5", True)]
    assert facts["network__db_security_group_id"] == "sg-db" and facts["database__secret_arn"] == SECRET
    assert facts["rotation__redeploy"]["state_machine_arn"].endswith(":stateMachine:m")
    assert [d["before_header"] for d in result["diff"]] == ["network"] + steps.ran
    assert result["diff"][0] == {"before": {}, "after": {"network": 1}, "before_header": "network", "after_header": "network"}


def test_a_grant_or_endpoint_changed_moments_ago_gets_its_grace_before_the_rollouts_are_judged(monkeypatch):
    for grant_changed, endpoint_changed, grace in ((True, False, 45), (False, True, 45), (False, False, 0)):
        steps = Converging(monkeypatch, grant_changed=grant_changed, endpoint_changed=endpoint_changed)
        steps.converge(inputs(service_recent_change_grace=45))
        assert steps.options["rollouts"]["recent_change_grace"] == grace, (grant_changed, endpoint_changed)


def test_what_was_created_without_waiting_is_waited_for_where_a_task_first_needs_it(monkeypatch):
    steps = Converging(monkeypatch, pending=True)
    steps.converge()
    assert steps.ran.index("grant") < steps.ran.index("dependencies") < steps.ran.index("preflight")
    assert steps.options["dependencies"]["vpc_endpoint_ids"] == ["vpce-1"] and steps.options["dependencies"]["db_cluster_identifier"] == "shop-db"
    # A service signing in with a login of its own: the logins are made through the Data API on a
    # cluster that is available, so the one wait comes before them.
    steps = Converging(monkeypatch, pending=True)
    steps.converge(dict(inputs(), service_ecs_services=[{"name": "api", "db_auth": "app_user"}, "worker"]))
    assert steps.ran[:4] == ["network", "database", "logins_ready", "logins"] and "dependencies" not in steps.ran


def test_what_the_pass_does_not_do_is_handed_to_the_roles_before_any_write(monkeypatch):
    steps = Converging(monkeypatch)
    steps.discovered = dict(steps.discovered, released={"old": {"task_definition": "arn:td/old:3", "container_name": "app", "wired": True}})
    result = steps.converge(inputs(service_release_services=["old"]))
    assert result == {"converged": False, "handed_over": "service: old to release", "changed": False, "steps": [], "facts": {}, "diff": []}
    steps = Converging(monkeypatch)
    result = steps.converge(inputs(network_vpc_name="main"))
    assert result["handed_over"] == "network: network_vpc_name is looked up by the network role itself" and steps.ran == []


def test_a_step_its_module_would_refuse_hands_over_where_the_pass_meets_it(monkeypatch):
    steps = Converging(monkeypatch, problem="policy_name is empty")
    result = steps.converge()
    # What ran stays done: the roles find it so and refuse the grant with the same words.
    assert result["converged"] is False and result["handed_over"] == "grant: policy_name is empty" and result["changed"] is True
    assert steps.ran == ["network", "database", "task_definitions"] and result["facts"] == {}


def test_a_derivation_that_refuses_its_inputs_hands_over_to_the_role_that_refuses_them(monkeypatch):
    steps = Converging(monkeypatch)

    def refusing(state):
        raise ValueError("service_execution_role_policy_name is empty")

    monkeypatch.setattr(deployment, "STEPS", tuple(dataclasses.replace(step, options=refusing) if step.name == "grant" else step
                                                   for step in deployment.STEPS))
    result = steps.converge()
    assert result["handed_over"] == "grant: service_execution_role_policy_name is empty"
    assert steps.ran == ["network", "database", "task_definitions"]


def test_a_failing_step_fails_the_run_there_naming_it_and_what_ran_before(monkeypatch):
    steps = Converging(monkeypatch, failing="rollouts")
    with pytest.raises(EcsRdsError) as failed:
        steps.converge()
    assert failed.value.message == "rollouts: 1 of 2 rollouts did not complete: (1) api: FAILED"
    kwargs = failed.value.kwargs
    assert kwargs["step"] == "rollouts" and kwargs["rollouts"] == [{"service": "api"}] and kwargs["changed"] is True
    assert [entry["step"] for entry in kwargs["steps"]] == ["network", "database", "task_definitions", "grant", "preflight"]
    assert "rotation" not in steps.ran


def test_what_a_step_s_module_masks_is_masked_before_it_runs(monkeypatch):
    steps = Converging(monkeypatch)
    steps.converge(inputs(service_driver_variable="DB_DRIVER_KEY"))
    assert steps.masked == ["org.postgresql.Driver"]


def test_the_summary_says_when_the_roles_steps_ran_in_one_process():
    plan = {"in_sync": False, "reason": "network: create endpoint"}
    assert published.summary({}, plan, {"converged": True})["deployment_check"] == "network: create endpoint; the roles' steps ran in one process"
    handed = published.summary({}, plan, {"converged": False, "handed_over": "service: old to release"})
    assert handed["deployment_check"] == "network: create endpoint; the roles ran, handed over: service: old to release"
    assert published.summary({}, plan, {"skipped": True})["deployment_check"] == "network: create endpoint"
