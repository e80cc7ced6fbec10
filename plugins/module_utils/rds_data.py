# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database logins of an Aurora PostgreSQL cluster, made through the RDS Data API.

The database sits in private subnets, where the automation cannot reach it; the Data API can (HTTPS,
authorised by IAM and the master secret). For each login asked for: its own Secrets Manager secret
in the shape RDS and AWS's rotation functions use, its password from GetRandomPassword; the
PostgreSQL login made with a SCRAM-SHA-256 verifier computed here, so the password never travels in
SQL text; and its rights - ``owner`` (a schema of its own), ``read_write`` or ``read_only`` on a
named schema, with default privileges for the tables its owner creates later.

Describe, compare, write only when different: one read-only SELECT per login tells what it has, and
only what is missing is sent (a re-run sends no statement that changes anything). The decisions
(which statements) are pure functions, unit-tested; the SQL they make quotes every identifier and
binds every value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, call, retry_while_busy, wait_for
from ansible_collections.ecsrds.connect.plugins.module_utils.rds import AuroraCluster
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import DB_IDENTIFIER, DB_PRIVILEGES

IDENTIFIER = DB_IDENTIFIER
PRIVILEGES = DB_PRIVILEGES
# Roles a login must never be named after: PostgreSQL's and Aurora's own.
RESERVED = ("postgres", "public", "rdsadmin", "rds_superuser", "rds_iam", "rds_replication", "rds_password", "rdstopmgr")
TABLE_PRIVILEGES = {"read_write": ("SELECT", "INSERT", "UPDATE", "DELETE"), "read_only": ("SELECT",)}
ACL_LETTERS = {"SELECT": "r", "INSERT": "a", "UPDATE": "w", "DELETE": "d"}
# Characters a password must not hold to be safe in a JDBC URL, a shell and a JSON document.
EXCLUDED_CHARACTERS = "/@\"'\\`:;?&=+%$#!"
CREATED_BY_TAG = "ecsrds.connect/created-by"


def quoted(identifier: str) -> str:
    """An identifier for SQL text; only names IDENTIFIER accepts reach here, quoted all the same."""
    if not IDENTIFIER.fullmatch(identifier):
        raise EcsRdsError(message=f"{identifier!r} is not a PostgreSQL name this module makes (lower case letters, digits, _)")
    return f'"{identifier}"'


def scram_verifier(password: str, salt: Optional[bytes] = None, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (RFC 5802/7677, as libpq computes it): what
    the server stores, given in CREATE/ALTER ROLE instead of the password."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    encode = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{encode(salt).decode()}${encode(stored_key).decode()}:{encode(server_key).decode()}"


@dataclass(frozen=True)
class Login:
    name: str
    privileges: str
    schema: str
    secret_name: str
    # "password" (its own secret) or "iam" (IAM database authentication: the rds_iam role, no password, no secret).
    auth: str = "password"


def wanted_logins(params: Mapping[str, Any]) -> List[Login]:
    """The logins asked for, with their defaults: ``owner`` owns a schema named after it; the others
    use ``public`` unless told; each secret is ``<secret_prefix><name>``."""
    result = []
    for entry in params.get("logins") or []:
        privileges = entry.get("privileges") or "owner"
        schema = entry.get("schema") or (entry["name"] if privileges == "owner" else "public")
        secret_name = entry.get("secret_name") or f"{params.get('secret_prefix') or ''}{entry['name']}"
        result.append(Login(entry["name"], privileges, schema, secret_name, entry.get("auth") or "password"))
    return result


def logins_problem(params: Mapping[str, Any]) -> Optional[str]:
    """Every problem with the logins as the user wrote them, before any call."""
    problems = []
    names = [entry.get("name") for entry in params.get("logins") or []]
    for entry in params.get("logins") or []:
        name = entry.get("name")
        if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
            problems.append(f"logins: name {name!r} must be 1 to 63 lower case letters, digits or _, not starting with a digit")
        elif name in RESERVED or name.startswith("pg_"):
            problems.append(f"logins: name {name!r} is a role PostgreSQL or Aurora keeps for itself")
        schema = entry.get("schema")
        if schema is not None and (not IDENTIFIER.fullmatch(schema) or schema.startswith("pg_") or schema == "information_schema"):
            problems.append(f"logins: schema {schema!r} of {name!r} must be a plain lower case name, not a system schema")
        if entry.get("privileges") == "owner" and schema == "public":
            problems.append(f"logins: {name!r} with privileges owner gets a schema of its own; public is the database's")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"logins: {', '.join(map(str, duplicates))} listed more than once")
    if params.get("master_username") and params["master_username"] in names:
        problems.append(f"logins: {params['master_username']!r} is the cluster's master login")
    return "; ".join(problems) or None


# ---------------------------------------------------------------------------------------------
# What a login has, and what to send


STATE_SQL = """SELECT
  (SELECT rolcanlogin FROM pg_roles WHERE rolname = :login) AS can_login,
  (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :schema) AS schema_owner,
  (SELECT has_schema_privilege(r.oid, n.oid, 'USAGE') FROM pg_roles r, pg_namespace n WHERE r.rolname = :login AND n.nspname = :schema) AS usage,
  (SELECT has_schema_privilege(r.oid, n.oid, 'CREATE') FROM pg_roles r, pg_namespace n WHERE r.rolname = :login AND n.nspname = :schema) AS can_create,
  (SELECT string_agg(DISTINCT p.privilege, ',') FROM pg_roles r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
          unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p(privilege)
    WHERE r.rolname = :login AND n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT has_table_privilege(r.oid, c.oid, p.privilege)
  ) AS tables_lacking,
  (SELECT string_agg(DISTINCT p.privilege, ',') FROM pg_roles r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
          unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p(privilege)
    WHERE r.rolname = :login AND n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm') AND has_table_privilege(r.oid, c.oid, p.privilege)
  ) AS tables_holding,
  (SELECT d.defaclacl::text FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
    WHERE n.nspname = :schema AND d.defaclrole = n.nspowner AND d.defaclobjtype = 'r') AS default_acl,
  (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = :login) AS owned_relations,
  (SELECT pg_has_role(current_user, r.oid, 'USAGE') FROM pg_roles r WHERE r.rolname = :login) AS master_member,
  EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
          WHERE g.rolname = 'rds_iam' AND r.rolname = :login) AS rds_iam"""


@dataclass
class LoginState:
    """What one SELECT (STATE_SQL) found for a login in its schema."""

    exists: bool
    schema_owner: Optional[str]
    usage: bool
    can_create: bool
    tables_lacking: List[str] = field(default_factory=list)
    tables_holding: List[str] = field(default_factory=list)
    default_privileges: List[str] = field(default_factory=list)
    owned_relations: int = 0
    # The master (current_user of the Data API) has the login's privileges (pg_has_role USAGE: an
    # inheriting member), so it may make objects owned by it and drop them. PostgreSQL 16 gives the
    # role that created a login ADMIN on it but no such membership: MEMBER would say yes, USAGE says no.
    master_member: bool = False
    rds_iam: bool = False  # a member of rds_iam: it signs in with IAM authentication tokens only


def parse_state(login: str, row: Sequence[Any]) -> LoginState:
    can_login, schema_owner, usage, can_create, lacking, holding, default_acl, owned, member, rds_iam = row
    return LoginState(
        exists=can_login is not None, schema_owner=schema_owner, usage=bool(usage), can_create=bool(can_create),
        tables_lacking=sorted((lacking or "").split(",")) if lacking else [], tables_holding=sorted((holding or "").split(",")) if holding else [],
        default_privileges=default_privileges_of(default_acl, login), owned_relations=int(owned or 0), master_member=bool(member),
        rds_iam=bool(rds_iam))


def default_privileges_of(acl: Optional[str], login: str) -> List[str]:
    """The table privileges an ACL text such as ``{app=arwd/owner,other=r/owner}`` gives ``login``."""
    for item in (acl or "").strip("{}").split(","):
        grantee, _equals, rest = item.partition("=")
        if grantee.strip('"') == login:
            letters = rest.split("/", 1)[0]
            return sorted(p for p, letter in ACL_LETTERS.items() if letter in letters)
    return []


def login_statements(login: Login, state: LoginState, verifier: Optional[str]) -> List[str]:
    """What to send so ``login`` has exactly its rights, given what it has; nothing when it has them.
    ``verifier``: the SCRAM verifier to give a login that does not exist yet or whose secret was made
    now (None: its password is left as it is)."""
    name = quoted(login.name)
    schema = quoted(login.schema)
    statements = []
    if login.auth == "iam":
        # Aurora lets a member of rds_iam sign in only with an IAM authentication token, never a password.
        if not state.exists:
            statements.append(f"CREATE ROLE {name} LOGIN")
        if not state.rds_iam:
            statements.append(f"GRANT rds_iam TO {name}")
    elif not state.exists:
        # The verifier is no password: PostgreSQL stores it as given and never sees the password.
        statements.append(f"CREATE ROLE {name} LOGIN PASSWORD '{verifier}'")
    elif verifier:
        statements.append(f"ALTER ROLE {name} LOGIN PASSWORD '{verifier}'")
    if login.privileges == "owner":
        if not state.master_member:
            # Aurora's master is no superuser: PostgreSQL (16's CREATEROLE rules, and membership before)
            # lets it make a schema owned by the login, and default privileges for it, only as a member.
            statements.append(f"GRANT {name} TO CURRENT_USER")
        if state.schema_owner is None:
            statements.append(f"CREATE SCHEMA {schema} AUTHORIZATION {name}")
        elif state.schema_owner != login.name:
            statements.append(f"ALTER SCHEMA {schema} OWNER TO {name}")
        return statements
    wanted = TABLE_PRIVILEGES[login.privileges]
    if state.schema_owner is None:
        raise EcsRdsError(message=f"logins: schema {login.schema!r} of {login.name!r} does not exist in the database; "
                                  "create it (an owner login does) before granting rights on it")
    if not state.usage or not state.exists:
        statements.append(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
    if state.can_create and state.exists:
        statements.append(f"REVOKE CREATE ON SCHEMA {schema} FROM {name}")
    lacking = [p for p in wanted if p in state.tables_lacking or not state.exists]
    if lacking and (state.tables_lacking or not state.exists):
        statements.append(f"GRANT {', '.join(lacking)} ON ALL TABLES IN SCHEMA {schema} TO {name}")
    extra = [p for p in state.tables_holding if p not in wanted]
    if extra:
        statements.append(f"REVOKE {', '.join(extra)} ON ALL TABLES IN SCHEMA {schema} FROM {name}")
    owner = quoted(state.schema_owner)
    if sorted(wanted) != state.default_privileges:
        missing = [p for p in wanted if p not in state.default_privileges]
        if missing:
            statements.append(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT {', '.join(missing)} ON TABLES TO {name}")
        surplus = [p for p in state.default_privileges if p not in wanted]
        if surplus:
            statements.append(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} REVOKE {', '.join(surplus)} ON TABLES FROM {name}")
    return statements


def drop_statements(login: Login, state: LoginState, drop_owned: bool) -> List[str]:
    """What takes a login out; refused while it owns tables, unless they are to be dropped with it."""
    if not state.exists:
        return []
    name = quoted(login.name)
    if state.owned_relations and not drop_owned:
        raise EcsRdsError(message=f"login {login.name!r} still owns {state.owned_relations} table(s) or view(s): nothing was changed; "
                                  "move them to another owner, or set drop_owned: true to drop them with the login")
    # DROP OWNED needs the privileges of the login: under PostgreSQL 16's CREATEROLE rules the master
    # that made it holds only ADMIN on it until granted membership (as login_statements does for an owner).
    statements = [] if state.master_member else [f"GRANT {name} TO CURRENT_USER"]
    if login.privileges == "owner" and state.schema_owner == login.name and drop_owned:
        statements.append(f"DROP SCHEMA {quoted(login.schema)} CASCADE")
    # Its rights anywhere (and, when told, what it owns) go with it.
    statements.append(f"DROP OWNED BY {name}")
    statements.append(f"DROP ROLE {name}")
    return statements


def secret_document(login: Login, password: str, cluster: Mapping[str, Any], database: str, master_secret_arn: str) -> Dict[str, Any]:
    """The login's secret, in the shape RDS and AWS's rotation functions (alternating users) read."""
    return {"engine": "postgres", "host": cluster.get("Endpoint"), "port": cluster.get("Port"), "username": login.name,
            "password": password, "dbname": database, "masterarn": master_secret_arn}


# ---------------------------------------------------------------------------------------------
# The calls


class DataApi:
    """ExecuteStatement with the master secret, each statement naming its database."""

    def __init__(self, client: Any, cluster_arn: str, secret_arn: str, database: str, resume_timeout: float = 300) -> None:
        self.client, self.cluster_arn, self.secret_arn, self.database = client, cluster_arn, secret_arn, database
        # A Serverless v2 cluster paused at 0 ACUs answers DatabaseResumingException while it resumes
        # (up to about 15 s): the statement is sent again until it runs.
        self.resume_timeout = resume_timeout
        self.sent: List[str] = []

    def execute(self, sql: str, parameters: Optional[Mapping[str, str]] = None, shown: Optional[str] = None) -> List[List[Any]]:
        """Run one statement; ``shown`` is what the module may report of it (never a verifier)."""
        args: Dict[str, Any] = dict(resourceArn=self.cluster_arn, secretArn=self.secret_arn, database=self.database, sql=sql)
        if parameters:
            args["parameters"] = [{"name": key, "value": {"stringValue": value}} for key, value in parameters.items()]
        try:
            answer = retry_while_busy(lambda: call(self.client, "execute_statement", shown or sql, **args), self.resume_timeout,
                                      f"run {shown or sql}", codes=("DatabaseResumingException",), delay=5.0)
        except EcsRdsError as exc:
            if "permission denied for database" in str(getattr(exc, "exception", None)):
                # PostgreSQL: CREATE on a database is its owner's (and whom it grants); RDS makes the master the
                # owner of the cluster's DatabaseName, not of postgres.
                raise EcsRdsError(message=f"{exc.message}: the master may not create schemas in database {self.database}; name a database "
                                          "the master owns, such as the cluster's DatabaseName (option database; ecsrds_db_name)",
                                  exception=exc.exception) from None
            raise
        self.sent.append(shown or sql)
        return [[_value(field_) for field_ in record] for record in answer.get("records") or []]


def _value(field_: Mapping[str, Any]) -> Any:
    if field_.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "booleanValue", "doubleValue"):
        if key in field_:
            return field_[key]
    return None


def _shown(statement: str) -> str:
    """A statement as the module reports it: a verifier is replaced."""
    return re.sub(r"PASSWORD '[^']*'", "PASSWORD '<SCRAM-SHA-256 verifier>'", statement)


class LoginManager:
    def __init__(self, clients: Clients, params: Mapping[str, Any], check_mode: bool) -> None:
        self.params, self.check_mode = params, check_mode
        self.rds, self.secrets = clients("rds"), clients("secretsmanager")
        self.data_client = clients("rds-data")
        self.cluster_id = params["db_cluster_identifier"]
        self.actions: List[str] = []
        # Schema -> owner login, for the schemas this run makes (or, in check mode, would make): a
        # login with rights on one of them is planned against it.
        self.schemas_made: Dict[str, str] = {}
        self.database = params.get("database") or "postgres"

    def http_endpoint(self, cluster: Dict[str, Any]) -> bool:
        """The Data API on: True when it was turned on now (it is waited for)."""
        if cluster.get("HttpEndpointEnabled"):
            return False
        self.actions.append(f"enable the Data API (HTTP endpoint) of DB cluster {self.cluster_id}")
        if self.check_mode:
            return True
        call(self.rds, "enable_http_endpoint", f"enable the HTTP endpoint of DB cluster {self.cluster_id}", ResourceArn=cluster["DBClusterArn"])
        wait_for(lambda: True if AuroraCluster(self.rds, self.cluster_id).describe().get("HttpEndpointEnabled") else None,
                 self.params["wait_timeout"], f"the Data API of DB cluster {self.cluster_id} to be enabled")
        return True

    def describe_secret(self, name: str) -> Optional[Dict[str, Any]]:
        return call(self.secrets, "describe_secret", f"describe secret {name}", not_found=("ResourceNotFoundException",), SecretId=name)

    def new_password(self) -> str:
        answer = call(self.secrets, "get_random_password", "get a random password", PasswordLength=32, ExcludeCharacters=EXCLUDED_CHARACTERS)
        return answer["RandomPassword"]

    def stored_password(self, arn: str) -> str:
        answer = call(self.secrets, "get_secret_value", f"read the password of secret {arn}", SecretId=arn)
        return json.loads(answer["SecretString"])["password"]

    def create_secret(self, login: Login, document: Dict[str, Any]) -> Dict[str, Any]:
        tags = [{"Key": CREATED_BY_TAG, "Value": self.params["deployment_id"]}] if self.params.get("deployment_id") else []
        return call(self.secrets, "create_secret", f"create secret {login.secret_name}", Name=login.secret_name, SecretString=json.dumps(document),
                    Description=f"Login {login.name} of DB cluster {self.cluster_id} (ecsrds.connect)", Tags=tags)

    def planned_before_cluster(self) -> Outcome:
        """Check mode before the cluster exists (a first run's --check): every login, its secret and rights are to be made."""
        results = []
        for login in wanted_logins(self.params):
            with_secret = login.auth == "password"
            self.actions.append(f"create login {login.name}" + (f" and its secret {login.secret_name}" if with_secret else " (IAM authentication)"))
            results.append({"name": login.name, "auth": login.auth, "privileges": login.privileges, "schema": login.schema,
                            "secret_name": login.secret_name if with_secret else None, "secret_arn": None, "created": True, "statements": []})
        return Outcome(True, {"logins": results, "http_endpoint_enabled": False, "statements_sent": []}, None, list(self.actions))

    def run(self) -> Outcome:
        cluster = AuroraCluster(self.rds, self.cluster_id).describe()
        if cluster is None and self.check_mode and self.params["state"] == "present":
            return self.planned_before_cluster()
        if cluster is None and self.params["state"] == "absent":
            # The logins went with the cluster; the secrets this deployment made for them are left to delete.
            results = [self.absent(None, login, LoginState(False, None, False, False)) for login in wanted_logins(self.params)]
            return Outcome(bool(self.actions), {"logins": results, "http_endpoint_enabled": False, "statements_sent": []}, None, list(self.actions))
        if cluster is None:
            raise EcsRdsError(message=f"DB cluster {self.cluster_id} not found (option db_cluster_identifier)")
        master_secret = self.params.get("master_secret_arn") or (cluster.get("MasterUserSecret") or {}).get("SecretArn")
        if not master_secret:
            raise EcsRdsError(message=f"DB cluster {self.cluster_id} has no RDS-managed master secret; give master_secret_arn")
        problem = logins_problem(dict(self.params, master_username=cluster.get("MasterUsername")))
        if problem:
            raise EcsRdsError(message=problem)
        turned_on = self.http_endpoint(cluster)
        self.database = self.params.get("database") or cluster.get("DatabaseName") or "postgres"
        api = DataApi(self.data_client, cluster["DBClusterArn"], master_secret, self.database, self.params["wait_timeout"])

        def state(login: Login) -> LoginState:
            # Before the Data API is on (check mode turning it on), nothing can be read: all is planned.
            return LoginState(False, None, False, False) if turned_on and self.check_mode else self.state(api, login)

        if self.params["state"] == "absent":
            states = [(login, state(login)) for login in wanted_logins(self.params)]
            # Every login that cannot go is refused before any of them goes.
            for login, found in states:
                drop_statements(login, found, self.params.get("drop_owned", False))
            results = [self.absent(api, login, found) for login, found in states]
        else:
            # Read one after the other: a login with rights on a schema an earlier one made reads it made.
            results = [self.present(api, login, state(login), cluster, master_secret) for login in wanted_logins(self.params)]
        changed = bool(self.actions)
        return Outcome(changed, {"logins": results, "http_endpoint_enabled": True, "statements_sent": [s for s in api.sent if not s.startswith("SELECT")]},
                       None, list(self.actions))

    def state(self, api: DataApi, login: Login) -> LoginState:
        [row] = api.execute(STATE_SQL, {"login": login.name, "schema": login.schema}, shown=f"SELECT the state of login {login.name}")
        return parse_state(login.name, row)

    def present(self, api: DataApi, login: Login, state: LoginState, cluster: Dict[str, Any], master_secret: str) -> Dict[str, Any]:
        # An IAM login has no secret: its application signs in with a token its task role may ask for.
        with_secret = login.auth == "password"
        secret = self.describe_secret(login.secret_name) if with_secret else None
        verifier = None
        password = None
        if with_secret and secret is None:
            self.actions.append(f"create secret {login.secret_name} for login {login.name}")
            password = "" if self.check_mode else self.new_password()
        elif with_secret and not state.exists:
            # A secret kept from an earlier run (a run stopped between the two): the login takes its password.
            password = "" if self.check_mode else self.stored_password(secret["ARN"])
        if password is not None and not self.check_mode:
            verifier = scram_verifier(password)
        if login.privileges == "owner":
            self.schemas_made[login.schema] = login.name
        elif state.schema_owner is None and login.schema in self.schemas_made and self.check_mode:
            state.schema_owner = self.schemas_made[login.schema]
        statements = login_statements(login, state, verifier or ("<planned>" if password is not None else None))
        for statement in statements:
            self.actions.append(f"{login.name}: {_shown(statement)}")
        if not self.check_mode:
            if with_secret and secret is None:
                secret = self.create_secret(login, secret_document(login, password, cluster, self.database, master_secret))
            for statement in statements:
                api.execute(statement, shown=_shown(statement))
        return {"name": login.name, "auth": login.auth, "privileges": login.privileges, "schema": login.schema,
                "secret_name": login.secret_name if login.auth == "password" else None,
                "secret_arn": (secret or {}).get("ARN"), "created": not state.exists, "statements": [_shown(s) for s in statements]}

    def absent(self, api: Optional[DataApi], login: Login, state: LoginState) -> Dict[str, Any]:
        statements = drop_statements(login, state, self.params.get("drop_owned", False))
        secret = self.describe_secret(login.secret_name)
        ours = secret is not None and any(t.get("Key") == CREATED_BY_TAG and t.get("Value") == self.params.get("deployment_id")
                                          for t in secret.get("Tags") or [])
        for statement in statements:
            self.actions.append(f"{login.name}: {statement}")
        if ours:
            self.actions.append(f"delete secret {login.secret_name}")
        if not self.check_mode:
            for statement in statements:
                api.execute(statement)  # type: ignore[union-attr]  # no statement without a cluster
            if ours:
                call(self.secrets, "delete_secret", f"delete secret {login.secret_name}", SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
        return {"name": login.name, "secret_name": login.secret_name, "removed": bool(statements), "secret_deleted": ours, "statements": statements}


def run_logins(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """rds_db_logins: the logins, their secrets and rights, as asked."""
    return LoginManager(clients, params, check_mode).run()


LOGINS_ARGUMENT_SPEC = dict(
    db_cluster_identifier=dict(type="str", required=True),
    master_secret_arn=dict(type="str", no_log=False),
    database=dict(type="str"),
    logins=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        privileges=dict(type="str", choices=list(PRIVILEGES), default="owner"),
        auth=dict(type="str", choices=["password", "iam"], default="password"),
        schema=dict(type="str"),
        secret_name=dict(type="str", no_log=False),
    )),
    secret_prefix=dict(type="str", default="", no_log=False),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    drop_owned=dict(type="bool", default=False),
    deployment_id=dict(type="str"),
    wait_timeout=dict(type="int", default=300),
)
