"""rds_db_logins on a real PostgreSQL, through the Data API stand-in (tests/support/data_api.py).

moto answers the Data API with canned results and has no EnableHttpEndpoint for a provisioned
cluster: the stand-in answers both as AWS documents them and runs every statement on a real
PostgreSQL 16, signed in as the master login the cluster's managed secret holds, made as RDS makes it
(a member of rds_superuser with CREATEROLE and CREATEDB, not a superuser), so what PostgreSQL 16 refuses
such a login is refused here too. Each login is then proven by connecting with exactly what its own
secret holds.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from support.data_api import DataApiStandIn
from support.real_database import RealDatabase
from support.sandbox import run_playbook, write_calls

CLUSTER = "shop-db"
MODULE = "ecsrds.connect.rds_db_logins"


@pytest.fixture
def stand_in(moto):
    database = RealDatabase().start()
    rds = moto.client("rds")
    rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="16.4", MasterUsername="shop_admin",
                          DatabaseName="shop", ManageMasterUserPassword=True)
    database.follow_cluster(moto.client, CLUSTER)
    proxy = DataApiStandIn(moto.endpoint, database, moto.client)
    yield proxy
    proxy.stop()
    database.stop()


def _play(logins, check=False, **options):
    task = {"name": "logins", MODULE: dict({"db_cluster_identifier": CLUSTER, "secret_prefix": "shop-db/", "deployment_id": CLUSTER,
                                            "logins": logins}, **options)}
    return [{"hosts": "localhost", "gather_facts": False, "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
             "tasks": [task]}]


def _connect(moto, database, secret_arn, **kwargs):
    """Connect as the application would, with exactly what the login's secret holds."""
    login = json.loads(moto.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
    return psycopg.connect(host=database.socket_directory, dbname=login["dbname"], user=login["username"], password=login["password"],
                           autocommit=True, **kwargs), login


LOGINS = [
    {"name": "orders", "privileges": "owner"},
    {"name": "billing", "privileges": "owner"},
    {"name": "reports", "privileges": "read_only", "schema": "orders"},
    {"name": "fulfilment", "privileges": "read_write", "schema": "orders"},
]


def test_each_login_gets_its_own_secret_and_exactly_its_rights_and_a_rerun_changes_nothing(moto, stand_in):
    # Check mode first: planned, nothing written, no statement that changes anything.
    moto.start_recording()
    planned = run_playbook(stand_in.endpoint, _play(LOGINS), check=True)
    assert planned.rc == 0, planned.stdout[-3000:]
    assert write_calls(moto.stop_recording()) == [] and stand_in.changes() == []
    assert planned.result("logins")["changed"] is True and planned.result("logins")["http_endpoint_enabled"] is True

    run = run_playbook(stand_in.endpoint, _play(LOGINS))
    assert run.rc == 0, run.stdout[-3000:]
    result = {login["name"]: login for login in run.result("logins")["logins"]}
    assert all(login["created"] for login in result.values())

    # The secrets: RDS's shape, the login's own name, no password or verifier anywhere in the output.
    secrets = moto.client("secretsmanager")
    for name, login in result.items():
        value = json.loads(secrets.get_secret_value(SecretId=login["secret_arn"])["SecretString"])
        assert sorted(value) == ["dbname", "engine", "host", "masterarn", "password", "port", "username"] and value["username"] == name
        assert value["password"] not in run.stdout and "SCRAM-SHA-256$" not in run.stdout
    # Nor in the SQL PostgreSQL received: the login was given a verifier.
    assert not any(json.loads(secrets.get_secret_value(SecretId=login["secret_arn"])["SecretString"])["password"] in s.sql
                   for s in stand_in.statements for login in result.values())

    database = stand_in.database
    # The owner migrates its own schema, and cannot create in another's.
    orders, _login = _connect(moto, database, result["orders"]["secret_arn"])
    with orders:
        orders.execute("CREATE TABLE orders.purchase (id int primary key, total int)")
        orders.execute("INSERT INTO orders.purchase VALUES (1, 10)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            orders.execute("CREATE TABLE billing.stolen (id int)")
    # A table created after the grants: the default privileges of the schema's owner cover it.
    reports, _login = _connect(moto, database, result["reports"]["secret_arn"])
    with reports:
        assert reports.execute("SELECT total FROM orders.purchase").fetchall() == [(10,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reports.execute("INSERT INTO orders.purchase VALUES (2, 20)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reports.execute("CREATE TABLE orders.mine (id int)")
    fulfilment, _login = _connect(moto, database, result["fulfilment"]["secret_arn"])
    with fulfilment:
        fulfilment.execute("UPDATE orders.purchase SET total = 11 WHERE id = 1")
        assert fulfilment.execute("SELECT total FROM orders.purchase").fetchall() == [(11,)]

    # The re-run: reads only, no write call, changed=0 - although a table was created since.
    moto.start_recording()
    stand_in.statements.clear()
    again = run_playbook(stand_in.endpoint, _play(LOGINS))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    assert write_calls(moto.stop_recording()) == [] and stand_in.changes() == []

    # read_write -> read_only: the write rights are taken back, on the tables and for those to come.
    switched = [dict(login, privileges="read_only") if login["name"] == "fulfilment" else login for login in LOGINS]
    run = run_playbook(stand_in.endpoint, _play(switched))
    assert run.rc == 0 and run.changed == 1, run.stdout[-3000:]
    fulfilment, _login = _connect(moto, database, result["fulfilment"]["secret_arn"])
    with fulfilment:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            fulfilment.execute("UPDATE orders.purchase SET total = 12 WHERE id = 1")


def test_absent_refuses_a_login_that_owns_tables_then_drops_it_and_its_secret_when_told(moto, stand_in):
    run = run_playbook(stand_in.endpoint, _play(LOGINS[:1]))
    assert run.rc == 0, run.stdout[-3000:]
    [orders] = run.result("logins")["logins"]
    connection, _login = _connect(moto, stand_in.database, orders["secret_arn"])
    with connection:
        connection.execute("CREATE TABLE orders.purchase (id int)")
    stand_in.statements.clear()
    refused = run_playbook(stand_in.endpoint, _play(LOGINS[:1], state="absent"))
    assert refused.rc != 0 and "still owns 1 table(s)" in refused.result("logins")["msg"]
    assert stand_in.changes() == []

    dropped = run_playbook(stand_in.endpoint, _play(LOGINS[:1], state="absent", drop_owned=True))
    assert dropped.rc == 0 and dropped.changed == 1, dropped.stdout[-3000:]
    roles = stand_in.database._admin("SELECT rolname FROM pg_roles WHERE rolname = 'orders'")
    assert roles == [] and stand_in.database._admin("SELECT nspname FROM pg_namespace WHERE nspname = 'orders'") == []
    assert moto.client("secretsmanager").list_secrets(Filters=[{"Key": "name", "Values": ["shop-db/orders"]}])["SecretList"] == []


def test_bad_logins_are_refused_naming_them_before_any_call(moto, stand_in):
    moto.start_recording()
    run = run_playbook(stand_in.endpoint, _play([{"name": "Orders"}, {"name": "rds_superuser"}, {"name": "x", "privileges": "owner", "schema": "public"}]))
    calls = moto.stop_recording()
    assert run.rc != 0 and calls == []
    message = run.result("logins")["msg"]
    assert "name 'Orders' must be" in message and "'rds_superuser' is a role PostgreSQL or Aurora keeps" in message and "public is the database's" in message


def test_an_iam_login_holds_rds_iam_has_no_secret_and_a_resuming_cluster_is_waited_for(moto, stand_in):
    # Aurora answers DatabaseResumingException while a paused Serverless v2 cluster resumes: sent again.
    stand_in.enabled.add(moto.client("rds").describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["DBClusterArn"])
    stand_in.resuming = 2
    logins = [{"name": "orders", "privileges": "owner"}, {"name": "api", "auth": "iam", "privileges": "read_write", "schema": "orders"}]
    run = run_playbook(stand_in.endpoint, _play(logins))
    assert run.rc == 0, run.stdout[-3000:]
    assert stand_in.resuming == 0
    api = {login["name"]: login for login in run.result("logins")["logins"]}["api"]
    assert api["auth"] == "iam" and api["secret_arn"] is None and api["secret_name"] is None
    admin = stand_in.database._admin
    assert admin("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
                 "WHERE g.rolname = 'rds_iam' AND r.rolname = 'api'") == [("api",)]
    # No password to sign in with: only a token could (Aurora checks it for members of rds_iam).
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=stand_in.database.socket_directory, dbname="shop", user="api", password="", connect_timeout=5)
    names = [s["Name"] for s in moto.client("secretsmanager").list_secrets()["SecretList"]]
    assert "shop-db/orders" in names and "shop-db/api" not in names
    stand_in.statements.clear()
    again = run_playbook(stand_in.endpoint, _play(logins))
    assert again.rc == 0 and again.changed == 0 and stand_in.changes() == [], again.stdout[-3000:]
