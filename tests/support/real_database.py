"""A real PostgreSQL for the demo and the tests, and the two parts of AWS that moto does not play
around it, each doing exactly what AWS documents and nothing more.

- PostgreSQL 16 itself, from PyPI's ``pgserver`` (a wheel: no system package, starts in a second),
  reached by the psycopg driver. Only its Unix socket listens; every login needs its password
  (SCRAM-SHA-256), so a wrong secret fails as it would on Aurora.
- RDS's part (:meth:`RealDatabase.follow_cluster`): the master login of the cluster is what the
  cluster's managed secret holds, made as RDS makes it (a member of ``rds_superuser`` with CREATEROLE
  and CREATEDB, not a superuser, admin of ``rds_iam``), and the cluster's ``DatabaseName`` a database
  it owns. moto's secret names the login ``admin`` whatever MasterUsername was asked (AWS's names the
  MasterUsername): the login is whatever the secret says. moto creates the secret with
  ManageMasterUserPassword; this sets the login's password from it (as a SCRAM verifier, computed by
  the collection's rds_data: the password never travels in SQL) each time the secret's current
  version changes.
- The ECS agent's part (:func:`resolve_container`): a container's ``environment`` and ``secrets`` as
  the agent resolves them at task start: a Secrets Manager ``valueFrom`` is a full secret ARN optionally
  followed by ``:json-key:version-stage:version-id``; any other is a Systems Manager parameter. A
  secret that cannot be read, or a JSON key it does not hold, fails the task start with the agent's
  ResourceInitializationError.

What stays emulated is named where it is used: the cluster endpoint's DNS (the URL's host is moto's
name; the connection goes to this server) and the task itself (no container runs).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Tuple

ClientFactory = Callable[[str], Any]

JDBC_URL = re.compile(r"^jdbc:postgresql://(?P<host>[^:/?]+)(?::(?P<port>\d+))?/(?P<database>[^?]*)")
ADMIN = "ecsrds_stand_in"
AGENT_PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "


class TaskStartError(Exception):
    """What ECS reports as the stopped reason of a task whose secrets could not be resolved."""


def _secretsmanager_value(client_factory: ClientFactory, value_from: str) -> str:
    parts = value_from.split(":")
    arn = ":".join(parts[:7])
    json_key, stage, version_id = (parts[7:] + ["", "", ""])[:3]
    ask: Dict[str, str] = {"SecretId": arn}
    if stage:
        ask["VersionStage"] = stage
    if version_id:
        ask["VersionId"] = version_id
    try:
        value = client_factory("secretsmanager").get_secret_value(**ask)["SecretString"]
    except Exception as error:  # the agent reports whatever the call answered
        answer = getattr(error, "response", {}).get("Error", {})
        raise TaskStartError(f"{AGENT_PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch "
                             f"secret {arn} from secrets manager: {answer.get('Code', type(error).__name__)}: {answer.get('Message', error)}") from None
    if not json_key:
        return value
    document = json.loads(value)
    if json_key not in document:
        raise TaskStartError(f"{AGENT_PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret "
                             f"from Secrets Manager did not contain json key {json_key}")
    return str(document[json_key])


def resolve_container(client_factory: ClientFactory, container: Mapping[str, Any]) -> Dict[str, str]:
    """The variables the container's process gets: its environment, then each secret reference fetched."""
    values = {pair["name"]: pair["value"] for pair in container.get("environment") or []}
    for reference in container.get("secrets") or []:
        value_from = reference["valueFrom"]
        if value_from.startswith("arn:aws:secretsmanager:"):
            values[reference["name"]] = _secretsmanager_value(client_factory, value_from)
        else:
            name = value_from.split(":parameter", 1)[-1] if value_from.startswith("arn:") else value_from
            try:
                answer = client_factory("ssm").get_parameter(Name=name, WithDecryption=True)
            except Exception as error:
                raise TaskStartError(f"{AGENT_PREFIX}unable to retrieve secrets from ssm: {error}") from None
            values[reference["name"]] = answer["Parameter"]["Value"]
    return values


@dataclass
class RealDatabase:
    """One PostgreSQL server for one Aurora cluster of moto's."""

    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="ecsrds-postgres-"))
    server: Any = None
    version: str = ""
    _followed: Dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "RealDatabase":
        # pgserver keeps its lock files in the user's runtime directory; a CI user may have none.
        os.environ.setdefault("XDG_RUNTIME_DIR", self.directory)
        import pgserver  # imported here: only the demo and the tests that use a database need it

        self.server = pgserver.get_server(os.path.join(self.directory, "data"), cleanup_mode="stop")
        # The stand-ins' own administrative login keeps trusting the socket (it has no password to
        # give); every other login, the cluster's master among them, must give its password.
        self.server.psql(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ADMIN}') THEN "
                         f"CREATE ROLE {ADMIN} LOGIN SUPERUSER; END IF; END $$;")
        with open(os.path.join(self.socket_directory, "pg_hba.conf"), "w", encoding="utf-8") as handle:
            handle.write(f"local all {ADMIN} trust\nlocal all all scram-sha-256\n")
        self.server.psql("SELECT pg_reload_conf();")
        self.version = self._admin("SHOW server_version")[0][0]
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None

    @property
    def socket_directory(self) -> str:
        return str(self.server.pgdata)

    def _admin(self, sql: str, database: str = "postgres") -> list:
        import psycopg

        with psycopg.connect(host=self.socket_directory, dbname=database, user=ADMIN, autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def follow_cluster(self, client_factory: ClientFactory, cluster_identifier: str) -> bool:
        """RDS's part: the master login is what the cluster's managed secret holds, and follows its
        rotations. True when the login was (re)set now; False when nothing changed or there is no
        cluster (or secret) yet."""
        try:
            clusters = client_factory("rds").describe_db_clusters(DBClusterIdentifier=cluster_identifier)["DBClusters"]
        except Exception as error:  # not created yet
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "DBClusterNotFoundFault":
                return False
            raise
        secret_arn = (clusters[0].get("MasterUserSecret") or {}).get("SecretArn")
        if not secret_arn:
            return False
        answer = client_factory("secretsmanager").get_secret_value(SecretId=secret_arn)
        with self._lock:
            if self._followed.get(secret_arn) == answer["VersionId"]:
                return False
            login = json.loads(answer["SecretString"])
            user = login["username"]
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", user) or user in (ADMIN, "postgres", "pgserver"):
                raise ValueError(f"master user name {user!r} is not one this stand-in creates")
            # The collection's own verifier (rds_db_logins gives its logins the same).
            from ansible_collections.ecsrds.connect.plugins.module_utils.rds_data import scram_verifier

            verifier = scram_verifier(login["password"])
            # As RDS makes it: not a superuser, a member of rds_superuser with CREATEROLE and CREATEDB.
            self._admin("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_superuser') THEN "
                        "CREATE ROLE rds_superuser NOLOGIN; END IF; END $$")
            self._admin(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN "
                        f"CREATE ROLE {user} LOGIN CREATEROLE CREATEDB IN ROLE rds_superuser; END IF; END $$")
            # Aurora's rds_iam, a plain role here (no token check), which the master may grant.
            self._admin("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN "
                        "CREATE ROLE rds_iam NOLOGIN; END IF; END $$")
            self._admin(f"GRANT rds_iam TO {user} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE")
            self._admin(f"ALTER ROLE {user} LOGIN PASSWORD '{verifier}'")
            # The cluster's DatabaseName is made as RDS makes it: owned by the master login.
            name = clusters[0].get("DatabaseName")
            if name and re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) and not self._admin(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
                self._admin(f"CREATE DATABASE {name} OWNER {user}")
            self._followed[secret_arn] = answer["VersionId"]
            return True

    def connect_as_the_application(self, variables: Mapping[str, str], url: str = "DATABASE_URL", username: str = "DATABASE_USERNAME",
                                   password: str = "DATABASE_PASSWORD") -> Tuple[str, str]:
        """Connects with the resolved values as the application's driver would, the URL's host standing
        for this server (moto's endpoint names none), and runs a query. Returns the server's answer:
        (current_user, version). Raises what the driver raises."""
        import psycopg

        match = JDBC_URL.match(variables.get(url, ""))
        if not match:
            raise ValueError(f"{url} is not a PostgreSQL JDBC URL")
        with psycopg.connect(host=self.socket_directory, dbname=match["database"] or "postgres", user=variables[username],
                             password=variables[password], connect_timeout=5) as connection:
            user, version = connection.execute("SELECT current_user, current_setting('server_version')").fetchone()
        return user, version
