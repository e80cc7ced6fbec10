"""A local AWS for the tests and the demo: a moto server on 127.0.0.1, an environment that can only
reach it, and a way to run playbooks against it and read back what each task returned.

Fail closed: every environment built here points at a loopback endpoint with fake credentials and
no instance-metadata lookups, and :func:`assert_loopback` refuses anything else.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / ".ansible" / "collections"
REGION = "us-east-1"
READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Batch Get", "Filter", "Search", "Simulate")

# Variables that could route a request to a real account or the instance-metadata address.
_AWS_ENV_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "EC2_URL",
    "S3_URL",
)


def assert_loopback(endpoint: str) -> None:
    """Refuse any endpoint that is not on this machine's loopback range."""
    host = urllib.parse.urlparse(endpoint).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise RuntimeError(f"Refusing to talk to {endpoint!r}: tests and the demo only use a loopback moto server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def safe_aws_env(endpoint: str, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment every AWS client started by a test or the demo gets."""
    assert_loopback(endpoint)
    env = dict(os.environ if base is None else base)
    for name in _AWS_ENV_TO_DROP:
        env.pop(name, None)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_URL=endpoint,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@dataclass
class Call:
    service: str
    operation: str
    # The request's parameters where the protocol puts them in the body (query and JSON protocols).
    params: Dict[str, Any] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return not self.operation.startswith(READ_PREFIXES)


class MotoServer:
    """A moto server process on a free loopback port, with request recording available."""

    def __init__(self, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._recording = tempfile.NamedTemporaryFile(prefix="moto-recording-", suffix=".jsonl", delete=False)
        self._recording.close()
        env = safe_aws_env(self.endpoint)
        env.update(
            MOTO_ENABLE_RECORDING="",  # off until a test starts it
            MOTO_RECORDER_FILEPATH=self._recording.name,
            MOTO_ECS_SERVICE_RUNNING="2",
        )
        env.update(extra_env or {})
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"moto server exited: {self._log.read().decode(errors='replace')}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"moto server on {self.endpoint} did not start within {timeout}s")

    def _post(self, path: str) -> bytes:
        request = urllib.request.Request(f"{self.endpoint}{path}", data=b"", method="POST")
        return urllib.request.urlopen(request, timeout=30).read()

    def reset(self) -> None:
        self._post("/moto-api/reset")

    def start_recording(self) -> None:
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def stop_recording(self) -> List[Call]:
        self._post("/moto-api/recorder/stop-recording")
        raw = urllib.request.urlopen(f"{self.endpoint}/moto-api/recorder/download-recording", timeout=30).read()
        return [call for call in (_parse_recorded(line) for line in raw.decode().splitlines() if line.strip()) if call]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        Path(self._recording.name).unlink(missing_ok=True)

    def client(self, service: str) -> Any:
        return loopback_client(self.endpoint, service)


def loopback_client(endpoint: str, service: str) -> Any:
    """A boto3 client for the moto server at ``endpoint``, with fake credentials; loopback only."""
    import boto3

    assert_loopback(endpoint)
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _parse_recorded(line: str) -> Optional[Call]:
    entry = json.loads(line)
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    auth = headers.get("authorization", "")
    service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "?"
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    target = headers.get("x-amz-target")
    if target:
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            params = {}
        return Call(service, target.split(".")[-1], params if isinstance(params, dict) else {})
    query = urllib.parse.parse_qs(body)
    action = query.get("Action") or urllib.parse.parse_qs(urllib.parse.urlparse(entry["url"]).query).get("Action")
    if action:
        return Call(service, action[0], {key: values[0] for key, values in query.items() if key != "Action"})
    # REST-style APIs: name the call by method and path.
    return Call(service, f"{entry['method']} {urllib.parse.urlparse(entry['url']).path}")


def write_calls(calls: Iterable[Call]) -> List[Call]:
    return [call for call in calls if call.is_write]


@dataclass
class TaskResult:
    name: str
    action: str
    result: Dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))


# site.yml's steps: the service and rotation roles' task that runs each, and the one task that runs them all
# in one process when the deployment check found something to do (ecsrds.connect.deployment_converge).
CONVERGE_TASK = "Run the roles' steps in one process"
STEP_TASKS = {
    "network": "ecsrds.connect.network : Ensure the Secrets Manager endpoint and the database security group's ingress rule",
    "database": "ecsrds.connect.database : Ensure the Aurora PostgreSQL cluster and its writer",
    "logins_ready": "ecsrds.connect.service : Wait for the Secrets Manager endpoint and the database before making the logins",
    "logins": "ecsrds.connect.service : Make each service's database login, its rights and (app_user) its own secret",
    "task_definitions": "ecsrds.connect.service : Register a revision with the database variables on top of what each service runs",
    "grant": "ecsrds.connect.service : Allow each execution role to read exactly the database secret",
    "dependencies": "ecsrds.connect.service : Wait for the Secrets Manager endpoint and the database still settling",
    "preflight": "ecsrds.connect.service : Check each service's secrets, execution role and network paths before rolling out",
    "rollouts": "ecsrds.connect.service : Move the services onto their revisions, then follow the rollouts together",
    "rotation": "ecsrds.connect.rotation : Ensure the rotation rule, the redeploy state machine and their roles",
}


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    tasks: List[TaskResult] = field(default_factory=list)
    stats: Dict[str, Any] = field(default_factory=dict)

    def task(self, name: str) -> TaskResult:
        matches = [task for task in self.tasks if task.name == name]
        if not matches:
            raise KeyError(f"no task named {name!r}; ran: {[task.name for task in self.tasks]}")
        return matches[0]

    def result(self, name: str) -> Dict[str, Any]:
        return self.task(name).result

    def step(self, name: str) -> Dict[str, Any]:
        """What site.yml's step ``name`` returned (its module's result; when it failed, the failed result),
        whether the one-process converge ran it or its role's task did."""
        converge = [task.result for task in self.tasks if task.name == CONVERGE_TASK and not task.result.get("skipped")]
        if converge:
            if converge[0].get("failed") and converge[0].get("step") == name:
                return converge[0]
            ran = [entry["result"] for entry in converge[0].get("steps") or [] if entry["step"] == name]
            if ran:
                return ran[0]
            if converge[0].get("converged") or converge[0].get("failed"):
                raise KeyError(f"step {name!r} did not run in one process: {[entry['step'] for entry in converge[0].get('steps') or []]}")
        return self.result(STEP_TASKS[name])

    @property
    def changed_steps(self) -> List[str]:
        """site.yml's steps that changed something (or would, in check mode), whichever way they ran."""
        converge = [task.result for task in self.tasks if task.name == CONVERGE_TASK and not task.result.get("skipped")]
        if converge:
            return [entry["step"] for entry in converge[0].get("steps") or [] if entry["changed"]]
        by_task = {task: step for step, task in STEP_TASKS.items()}
        return [by_task[task.name] for task in self.tasks if task.changed and task.name in by_task]

    @property
    def changed(self) -> int:
        return sum(host.get("changed", 0) for host in self.stats.values())

    @property
    def failures(self) -> int:
        return sum(host.get("failures", 0) + host.get("unreachable", 0) for host in self.stats.values())


def ansible_env(endpoint: str) -> Dict[str, str]:
    env = safe_aws_env(endpoint)
    env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_HOME=str(REPO_ROOT / ".ansible"),
    )
    return env


def run_playbook(
    endpoint: str,
    playbook: Any,
    extra_vars: Optional[Dict[str, Any]] = None,
    check: bool = False,
    diff: bool = False,
    extra_args: Iterable[str] = (),
) -> PlaybookRun:
    """Run a playbook (a path, or plays as Python data) against the moto server at ``endpoint``."""
    assert_loopback(endpoint)
    with tempfile.TemporaryDirectory(prefix="ecsrds-play-") as tmp:
        if isinstance(playbook, (str, Path)) and Path(playbook).exists():
            playbook_path = str(playbook)
        else:
            playbook_path = os.path.join(tmp, "play.yml")
            Path(playbook_path).write_text(yaml.safe_dump(playbook, sort_keys=False))
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook_path]
        if extra_vars:
            vars_path = os.path.join(tmp, "vars.json")
            Path(vars_path).write_text(json.dumps(extra_vars))
            command += ["-e", f"@{vars_path}"]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        command += list(extra_args)
        proc = subprocess.run(command, env=ansible_env(endpoint), capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=900, check=False)
    return _parse_json_callback(proc)


def _parse_json_callback(proc: subprocess.CompletedProcess) -> PlaybookRun:
    run = PlaybookRun(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        return run
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host_result in task.get("hosts", {}).values():
                run.tasks.append(TaskResult(task["task"]["name"], host_result.get("action", ""), host_result))
    run.stats = report.get("stats", {})
    return run


def module_server() -> Iterator["MotoServer"]:
    """``moto_server = pytest.fixture(scope="module")(module_server)`` in a test module whose tests share
    what they build (once, then only read): a server of that module's own, which no other test resets."""
    server = MotoServer()
    os.environ.update(safe_aws_env(server.endpoint))
    yield server
    server.stop()
