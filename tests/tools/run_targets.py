#!/usr/bin/env python
"""`make targets`: the acceptance targets (tests/integration/targets/, amazon.aws's layout) run by
ansible-test against a moto server on 127.0.0.1, exactly as they run on a real account
(docs/REAL-AWS.md): the only difference is the cloud config, whose aws_endpoint_url points at moto.

Usage (from the repo root, with the venv's python):
    PYTHONPATH=tests .venv/bin/python tests/tools/run_targets.py [ansible-test integration args]
    PYTHONPATH=tests .venv/bin/python tests/tools/run_targets.py --real-account cloud-config-aws.ini [args]

With --real-account the targets run on the account the given cloud config names (no moto, real
resources, real costs: docs/REAL-AWS.md); the config must not set aws_endpoint_url.
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_ansible_test import COLLECTION, ansible_test, copy_dependencies, seed_get_pip, sync_collection  # noqa: E402
from support.sandbox import REGION, MotoServer, assert_loopback, safe_aws_env  # noqa: E402

# ansible-test reads a static cloud config from tests/integration/cloud-config-aws.ini; every key of its
# [default] section becomes a variable of the targets. Fake credentials: moto accepts any.
CLOUD_CONFIG = """[default]
aws_access_key = testing
aws_secret_key = testing
security_token =
aws_region = {region}
aws_endpoint_url = {endpoint}
"""


def real_account(config_file: str, args: list[str]) -> int:
    """The targets on the account a cloud config names: no moto, real resources, real costs."""
    parser = configparser.ConfigParser()
    parser.read(config_file)
    if not parser.has_section("default") or parser.get("default", "aws_endpoint_url", fallback=""):
        sys.exit(f"{config_file}: a [default] section without aws_endpoint_url is needed for a real account")
    (COLLECTION / "tests" / "integration" / "cloud-config-aws.ini").write_text(Path(config_file).read_text())
    print(f"Running the acceptance targets on the real account of {config_file}: real resources, real costs (docs/REAL-AWS.md)", flush=True)
    # Nothing of a local emulator's may leak in from the caller's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL") and k != "AWS_URL"}
    return ansible_test("integration", args or ["cloud/aws/"], env=env)


def main() -> int:
    sync_collection()
    copy_dependencies()
    seed_get_pip()
    if sys.argv[1:2] == ["--real-account"]:
        if len(sys.argv) < 3:
            sys.exit(__doc__)
        return real_account(sys.argv[2], sys.argv[3:])
    # AWS's managed policies exist in every account: the targets attach AmazonECSTaskExecutionRolePolicy.
    server = MotoServer(extra_env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    try:
        assert_loopback(server.endpoint)
        config = COLLECTION / "tests" / "integration" / "cloud-config-aws.ini"
        config.write_text(CLOUD_CONFIG.format(region=REGION, endpoint=server.endpoint))
        # Whatever a target's playbook does not take from the config falls back to moto, never to AWS
        # or the instance metadata address.
        env = safe_aws_env(server.endpoint)
        args = sys.argv[1:] or ["cloud/aws/"]
        return ansible_test("integration", args, env=env)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
