"""The RDS Data API in front of moto, answered by a real PostgreSQL.

moto answers the Data API with canned results and has no EnableHttpEndpoint for a provisioned
cluster. This stand-in (the fault proxy of tests/support/faults.py, which forwards everything else
to moto and counts it) answers, as AWS documents them:

- RDS ``EnableHttpEndpoint`` / ``DisableHttpEndpoint`` (query protocol), and shows the setting in
  ``DescribeDBClusters`` (``HttpEndpointEnabled``);
- ``rds-data`` ``DatabaseResumingException`` for the next ``resuming`` calls, as while a paused
  Serverless v2 cluster resumes; then ``ExecuteStatement``, ``BatchExecuteStatement``, ``BeginTransaction``,
  ``CommitTransaction`` and ``RollbackTransaction`` (REST-JSON) by running the SQL on the real
  PostgreSQL of tests/support/real_database.py, signed in with the user name and password the
  referenced secret holds (read from moto's Secrets Manager, as the Data API reads it), in the
  database the call names. A cluster whose HTTP endpoint is off, a secret that does not sign in, or a
  statement PostgreSQL refuses is answered ``BadRequestException`` with PostgreSQL's message and
  SQLState, as the Data API words it.

Each statement is recorded (its SQL text as sent, the user that ran it, and whether PostgreSQL
reported a change), so a test can assert what a re-run sent. Parameters (``:name``) are bound, never
pasted into the text.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from support.faults import FaultProxy, Request, identify
from support.real_database import RealDatabase

Answer = Tuple[int, List[Tuple[str, str]], bytes]

_PATHS = {"/Execute": "ExecuteStatement", "/BatchExecute": "BatchExecuteStatement", "/BeginTransaction": "BeginTransaction",
          "/CommitTransaction": "CommitTransaction", "/RollbackTransaction": "RollbackTransaction"}
# Statements that only read: anything else sent on a re-run is a change.
READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW)\b", re.IGNORECASE)


@dataclass
class Statement:
    sql: str
    user: str
    database: str
    rows_changed: int
    status: str  # PostgreSQL's command status (CREATE ROLE, GRANT, SELECT 1, ...)
    error: Optional[str] = None

    @property
    def reads_only(self) -> bool:
        return bool(READ_ONLY.match(self.sql))


def _json_answer(status: int, document: Dict[str, Any], error_type: Optional[str] = None) -> Answer:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return status, headers, json.dumps(document).encode()


def _bad_request(message: str) -> Answer:
    return _json_answer(400, {"message": message}, "BadRequestException")


def _field(value: Any) -> Dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _parameter(field: Dict[str, Any]) -> Any:
    value = field.get("value") or {}
    if value.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "booleanValue", "doubleValue"):
        if key in value:
            return value[key]
    raise ValueError(f"parameter {field.get('name')!r} has a value this stand-in does not bind: {sorted(value)}")


def _bind(sql: str) -> str:
    """The Data API's ``:name`` placeholders as psycopg's ``%(name)s`` (``::type`` casts kept)."""
    escaped = sql.replace("%", "%%")
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", escaped)


class DataApiStandIn(FaultProxy):
    """``DataApiStandIn(moto.endpoint, database, client_factory)``; point the modules at ``endpoint``."""

    def __init__(self, upstream: str, database: RealDatabase, client_factory: Callable[[str], Any]) -> None:
        super().__init__(upstream)
        self.database = database
        self.client_factory = client_factory
        self.enabled: set = set()  # cluster ARNs whose HTTP endpoint is on
        self.statements: List[Statement] = []
        self._transactions: Dict[str, Any] = {}
        # Statements to answer DatabaseResumingException, as the Data API does while a Serverless v2
        # cluster paused at 0 ACUs resumes.
        self.resuming = 0
        self._state = threading.Lock()
        self.intercept = self._intercept
        self.rewrite = self._rewrite

    # -- what happened --------------------------------------------------------------------------

    def changes(self) -> List[Statement]:
        """The statements that were not plain reads."""
        with self._state:
            return [s for s in self.statements if not s.reads_only]

    # -- RDS: the HTTP endpoint -----------------------------------------------------------------

    def _rds_answer(self, action: str, arn: str, enabled: bool) -> Answer:
        body = (f'<{action}Response xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><{action}Result><ResourceArn>{arn}</ResourceArn>'
                f"<HttpEndpointEnabled>{str(enabled).lower()}</HttpEndpointEnabled></{action}Result>"
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
        return 200, [("Content-Type", "text/xml")], body.encode()

    def _rewrite(self, request: Request, body: bytes, status: int, answer: bytes) -> bytes:
        if request.operation != "DescribeDBClusters" or status >= 300:
            return answer
        parts = answer.decode().split("<DBCluster>")
        for index in range(1, len(parts)):
            found = re.search(r"<DBClusterArn>([^<]+)</DBClusterArn>", parts[index])
            if found and found.group(1) in self.enabled:
                parts[index] = parts[index].replace("<HttpEndpointEnabled>false</HttpEndpointEnabled>", "<HttpEndpointEnabled>true</HttpEndpointEnabled>", 1)
        return "<DBCluster>".join(parts).encode()

    # -- the Data API ---------------------------------------------------------------------------

    def _intercept(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> Optional[Answer]:
        service, operation = identify({k.lower(): v for k, v in headers.items()}, path, body)
        if service == "rds" and operation in ("EnableHttpEndpoint", "DisableHttpEndpoint"):
            arn = urllib.parse.parse_qs(body.decode())["ResourceArn"][0]
            with self._state:
                (self.enabled.add if operation == "EnableHttpEndpoint" else self.enabled.discard)(arn)
            return self._rds_answer(operation, arn, operation == "EnableHttpEndpoint")
        if service != "rds-data":
            return None
        operation = _PATHS.get(urllib.parse.urlparse(path).path)
        if operation is None:
            return _bad_request(f"This stand-in does not answer {path}")
        request = json.loads(body or b"{}")
        with self._state:
            resuming, self.resuming = self.resuming > 0, max(0, self.resuming - 1)
        if resuming:
            return _json_answer(400, {"message": f"Database resuming after being auto-paused: {request.get('resourceArn')}"},
                                "DatabaseResumingException")
        try:
            return getattr(self, f"_{operation}")(request)
        except _Refused as refused:
            return _bad_request(str(refused))

    def _connection(self, request: Dict[str, Any], database: Optional[str] = None) -> Tuple[Any, str]:
        import psycopg

        arn = request.get("resourceArn", "")
        if arn not in self.enabled:
            raise _Refused(f"HttpEndpoint is not enabled for resource {arn}")
        # RDS's part: an available cluster's master login is what its managed secret holds (a cluster
        # site.yml made in this run included).
        self.database.follow_cluster(self.client_factory, arn.rsplit(":", 1)[-1])
        try:
            login = json.loads(self.client_factory("secretsmanager").get_secret_value(SecretId=request["secretArn"])["SecretString"])
        except Exception as error:  # the Data API answers that it could not read the secret
            raise _Refused(f"Error fetching secret {request.get('secretArn')} : {getattr(error, 'response', {}).get('Error', {}).get('Code', error)}")
        try:
            connection = psycopg.connect(host=self.database.socket_directory, dbname=database or request.get("database") or "postgres",
                                         user=login["username"], password=login["password"], connect_timeout=5)
        except psycopg.OperationalError as error:
            raise _Refused(f"FATAL: {str(error).strip().splitlines()[-1]}") from None
        return connection, login["username"]

    def _run(self, connection: Any, user: str, database: str, sql: str, parameters: List[Dict[str, Any]]) -> Dict[str, Any]:
        import psycopg

        values = {p["name"]: _parameter(p) for p in parameters}
        try:
            cursor = connection.execute(_bind(sql), values) if values else connection.execute(sql)
        except psycopg.Error as error:
            statement = Statement(sql, user, database, 0, "", error=str(error))
            with self._state:
                self.statements.append(statement)
            raise _Refused(f"ERROR: {str(error).strip().splitlines()[0]}; SQLState: {error.sqlstate}") from None
        rows = cursor.fetchall() if cursor.description else []
        changed = cursor.rowcount if cursor.rowcount and cursor.rowcount > 0 and not cursor.description else 0
        with self._state:
            self.statements.append(Statement(sql, user, database, changed, cursor.statusmessage or ""))
        answer: Dict[str, Any] = {"numberOfRecordsUpdated": changed, "generatedFields": []}
        if cursor.description:
            answer["records"] = [[_field(value) for value in row] for row in rows]
            answer["columnMetadata"] = [{"name": column.name, "label": column.name} for column in cursor.description]
        return answer

    def _ExecuteStatement(self, request: Dict[str, Any]) -> Answer:
        transaction = request.get("transactionId")
        if transaction:
            with self._state:
                held = self._transactions.get(transaction)
            if held is None:
                raise _Refused(f"Transaction {transaction} is not found")
            connection, user, database = held
            return _json_answer(200, self._run(connection, user, database, request["sql"], request.get("parameters") or []))
        connection, user = self._connection(request)
        database = request.get("database") or "postgres"
        try:
            connection.autocommit = True
            return _json_answer(200, self._run(connection, user, database, request["sql"], request.get("parameters") or []))
        finally:
            connection.close()

    def _BatchExecuteStatement(self, request: Dict[str, Any]) -> Answer:
        results = []
        for parameters in request.get("parameterSets") or [[]]:
            status, _headers, body = self._ExecuteStatement(dict(request, parameters=parameters))
            results.append({"generatedFields": json.loads(body).get("generatedFields", [])})
        return _json_answer(200, {"updateResults": results})

    def _BeginTransaction(self, request: Dict[str, Any]) -> Answer:
        connection, user = self._connection(request)
        transaction = str(uuid.uuid4())
        with self._state:
            self._transactions[transaction] = (connection, user, request.get("database") or "postgres")
        return _json_answer(200, {"transactionId": transaction})

    def _end(self, request: Dict[str, Any], commit: bool) -> Answer:
        with self._state:
            held = self._transactions.pop(request.get("transactionId", ""), None)
        if held is None:
            raise _Refused(f"Transaction {request.get('transactionId')} is not found")
        connection = held[0]
        try:
            connection.commit() if commit else connection.rollback()
        finally:
            connection.close()
        return _json_answer(200, {"transactionStatus": "Transaction Committed" if commit else "Rollback Complete"})

    def _CommitTransaction(self, request: Dict[str, Any]) -> Answer:
        return self._end(request, True)

    def _RollbackTransaction(self, request: Dict[str, Any]) -> Answer:
        return self._end(request, False)


class _Refused(Exception):
    """Answered BadRequestException with this message."""
