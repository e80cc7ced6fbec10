"""rds_data: which statements make a login exactly what is asked, from what one SELECT found. The
SQL itself runs on a real PostgreSQL in tests/integration/test_db_logins.py."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest
from botocore.exceptions import ClientError

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.rds_data import (
    DataApi,
    Login,
    LoginState,
    default_privileges_of,
    drop_statements,
    login_statements,
    logins_problem,
    parse_state,
    scram_verifier,
    wanted_logins,
)

REPORTS = Login("reports", "read_only", "orders", "shop-db/reports")


def test_the_verifier_is_the_one_postgresql_checks_a_password_against():
    verifier = scram_verifier("correct horse", salt=b"0123456789abcdef")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", b"correct horse", base64.b64decode(salt), int(iterations))
    # RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
    assert method == "SCRAM-SHA-256" and iterations == "4096"
    assert stored_key == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert server_key == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert "correct horse" not in verifier and scram_verifier("correct horse") != scram_verifier("correct horse")


def test_defaults_an_owner_owns_a_schema_named_after_it_and_secrets_take_the_prefix():
    logins = wanted_logins({"secret_prefix": "shop-db/", "logins": [{"name": "orders"}, {"name": "reports", "privileges": "read_only"}]})
    assert logins == [Login("orders", "owner", "orders", "shop-db/orders"), Login("reports", "read_only", "public", "shop-db/reports")]


def test_bad_logins_are_named_as_written():
    problem = logins_problem({"master_username": "shop_admin", "logins": [
        {"name": "Orders"}, {"name": "pg_monitor"}, {"name": "shop_admin"}, {"name": "a", "schema": "information_schema"},
        {"name": "b", "privileges": "owner", "schema": "public"}, {"name": "c"}, {"name": "c"}]})
    assert "name 'Orders' must be 1 to 63 lower case letters" in problem
    assert "'pg_monitor' is a role PostgreSQL or Aurora keeps" in problem
    assert "'shop_admin' is the cluster's master login" in problem
    assert "schema 'information_schema' of 'a'" in problem and "public is the database's" in problem and "c listed more than once" in problem
    assert logins_problem({"logins": [{"name": "orders"}]}) is None


def test_a_new_owner_is_made_with_its_verifier_and_its_schema():
    state = LoginState(exists=False, schema_owner=None, usage=False, can_create=False)
    assert login_statements(Login("orders", "owner", "orders", "s"), state, "SCRAM-SHA-256$v") == [
        "CREATE ROLE \"orders\" LOGIN PASSWORD 'SCRAM-SHA-256$v'", 'GRANT "orders" TO CURRENT_USER', 'CREATE SCHEMA "orders" AUTHORIZATION "orders"']
    # Already so, secret kept: nothing at all.
    done = LoginState(exists=True, schema_owner="orders", usage=True, can_create=True, master_member=True)
    assert login_statements(Login("orders", "owner", "orders", "s"), done, None) == []


def test_a_reader_gets_usage_its_table_rights_and_default_privileges_then_nothing_more():
    fresh = LoginState(exists=False, schema_owner="orders", usage=False, can_create=False)
    assert login_statements(REPORTS, fresh, "V") == [
        "CREATE ROLE \"reports\" LOGIN PASSWORD 'V'",
        'GRANT USAGE ON SCHEMA "orders" TO "reports"',
        'GRANT SELECT ON ALL TABLES IN SCHEMA "orders" TO "reports"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "orders" IN SCHEMA "orders" GRANT SELECT ON TABLES TO "reports"']
    settled = LoginState(exists=True, schema_owner="orders", usage=True, can_create=False, tables_holding=["SELECT"],
                         default_privileges=["SELECT"])
    assert login_statements(REPORTS, settled, None) == []
    # A table created since that it cannot read yet: only that grant.
    assert login_statements(REPORTS, dataclasses.replace(settled, tables_lacking=["SELECT"]), None) == [
        'GRANT SELECT ON ALL TABLES IN SCHEMA "orders" TO "reports"']


def test_a_writer_switched_to_read_only_loses_its_write_rights_now_and_to_come():
    writer = LoginState(exists=True, schema_owner="orders", usage=True, can_create=False,
                        tables_holding=["DELETE", "INSERT", "SELECT", "UPDATE"], default_privileges=["DELETE", "INSERT", "SELECT", "UPDATE"])
    assert login_statements(REPORTS, writer, None) == [
        'REVOKE DELETE, INSERT, UPDATE ON ALL TABLES IN SCHEMA "orders" FROM "reports"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "orders" IN SCHEMA "orders" REVOKE DELETE, INSERT, UPDATE ON TABLES FROM "reports"']


def test_rights_on_a_schema_that_does_not_exist_are_refused():
    with pytest.raises(EcsRdsError, match="schema 'orders' of 'reports' does not exist"):
        login_statements(REPORTS, LoginState(exists=False, schema_owner=None, usage=False, can_create=False), "V")


def test_state_and_acl_as_postgresql_answers_them():
    state = parse_state("reports", [True, "orders", True, False, "INSERT,UPDATE", "SELECT", '{reports=r/orders,"fulfil"=arwd/orders}', 0, False, False])
    assert state.exists and state.tables_lacking == ["INSERT", "UPDATE"] and state.default_privileges == ["SELECT"]
    assert default_privileges_of('{reports=r/orders,"fulfil"=arwd/orders}', "fulfil") == ["DELETE", "INSERT", "SELECT", "UPDATE"]
    assert parse_state("x", [None, None, None, None, None, None, None, 0, None, False]).exists is False


def test_a_login_owning_tables_is_dropped_only_when_told():
    owning = LoginState(exists=True, schema_owner="orders", usage=True, can_create=True, owned_relations=2)
    orders = Login("orders", "owner", "orders", "s")
    with pytest.raises(EcsRdsError, match="still owns 2 table"):
        drop_statements(orders, owning, drop_owned=False)
    assert drop_statements(orders, owning, drop_owned=True) == [
        'GRANT "orders" TO CURRENT_USER', 'DROP SCHEMA "orders" CASCADE', 'DROP OWNED BY "orders"', 'DROP ROLE "orders"']
    # A master already a member of the login (an owner login it made a schema for) needs no grant first.
    member = LoginState(exists=True, schema_owner="orders", usage=True, can_create=True, master_member=True)
    assert drop_statements(orders, member, drop_owned=False) == ['DROP OWNED BY "orders"', 'DROP ROLE "orders"']
    assert drop_statements(orders, LoginState(False, None, False, False), drop_owned=False) == []


def test_an_iam_login_has_no_password_and_holds_rds_iam():
    api = Login("api", "read_write", "orders", "unused", auth="iam")
    fresh = LoginState(exists=False, schema_owner="orders", usage=False, can_create=False)
    statements = login_statements(api, fresh, None)
    assert statements[:2] == ['CREATE ROLE "api" LOGIN', 'GRANT rds_iam TO "api"'] and not any("PASSWORD" in s for s in statements)
    settled = LoginState(exists=True, schema_owner="orders", usage=True, can_create=False, tables_holding=["DELETE", "INSERT", "SELECT", "UPDATE"],
                         default_privileges=["DELETE", "INSERT", "SELECT", "UPDATE"], rds_iam=True)
    assert login_statements(api, settled, None) == []
    assert wanted_logins({"logins": [{"name": "api", "auth": "iam"}]})[0].auth == "iam"


class _RefusingDataApi:
    """The Data API's answer when PostgreSQL refuses CREATE on a database the master does not own."""

    def execute_statement(self, aws_retry=False, **kwargs):
        raise ClientError({"Error": {"Code": "BadRequestException", "Message": "ERROR: permission denied for database postgres; SQLState: 42501"}},
                          "ExecuteStatement")


def test_a_database_the_master_does_not_own_is_named_with_the_fix():
    api = DataApi(_RefusingDataApi(), "arn:aws:rds:us-east-1:123456789012:cluster:shop", "arn:secret", "postgres")
    with pytest.raises(EcsRdsError, match="the master may not create schemas in database postgres; name a database the master owns"):
        api.execute('CREATE SCHEMA "orders" AUTHORIZATION "orders"')
