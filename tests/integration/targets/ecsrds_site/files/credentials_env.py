"""Print `export` lines for the credentials in ansible-test's cloud config (the file given), for the
runme.sh targets' playbooks, which take credentials from the environment as a user's shell gives them.
Values are shell-quoted and never printed elsewhere."""

import shlex
import sys

import yaml

NAMES = {"aws_access_key": "AWS_ACCESS_KEY_ID", "aws_secret_key": "AWS_SECRET_ACCESS_KEY", "security_token": "AWS_SESSION_TOKEN",
         "aws_region": "AWS_REGION"}

with open(sys.argv[1], encoding="utf-8") as handle:
    config = yaml.safe_load(handle)
for key, variable in NAMES.items():
    if config.get(key):
        print(f"export {variable}={shlex.quote(str(config[key]))}")
if config.get("aws_endpoint_url"):
    # A local emulator: never fall back to the instance metadata address for credentials.
    print("export AWS_EC2_METADATA_DISABLED=true")
