#!/usr/bin/env bash
# site.yml and teardown.yml as a user runs them (ansible-playbook ecsrds.connect.site), unchanged on a
# real account and on moto (cloud-config-aws.ini with aws_endpoint_url): the application side prepared,
# site.yml converges, a second run and a --check --diff run change nothing, what was built is
# verified, teardown.yml removes it, and nothing of this deployment is left. The application side is
# removed whatever happened.
set -eu -o pipefail
cd "$(dirname "$0")"
export ANSIBLE_ROLES_PATH=../
# The playbooks run on localhost only, as site.yml's own ansible.cfg says (not read here).
export ANSIBLE_LOCALHOST_WARNING=false

# ansible-test passes the cloud config as the last argument (-e @file). The two playbooks take
# credentials the way a user's shell gives them, from the environment: exported here, never echoed.
config="${*: -1}"
eval "$("${ANSIBLE_TEST_PYTHON_INTERPRETER:-python}" files/credentials_env.py "${config#@}")"
output="${OUTPUT_DIR:-$(mktemp -d)}"
inputs="@${output}/ecsrds-vars.yml"

trap 'ansible-playbook cleanup.yml "$@"' EXIT
ansible-playbook prepare.yml -e "output_dir=${output}" "$@"

recap_changed() { sed -n 's/^localhost *: ok=[0-9]* *changed=\([0-9]*\) .*/\1/p' "$1"; }

ansible-playbook ecsrds.connect.site -e "${inputs}" | tee "${output}/first.log"
ansible-playbook ecsrds.connect.site -e "${inputs}" | tee "${output}/second.log"
test "$(recap_changed "${output}/second.log")" = 0
ansible-playbook ecsrds.connect.site -e "${inputs}" --check --diff | tee "${output}/check.log"
test "$(recap_changed "${output}/check.log")" = 0
ansible-playbook verify.yml -e "${inputs}" "$@"

ansible-playbook ecsrds.connect.teardown -e "${inputs}" -e ecsrds_teardown_confirm_delete=true \
  -e ecsrds_teardown_skip_final_snapshot=true | tee "${output}/teardown.log"
ansible-playbook verify_removed.yml -e "${inputs}" "$@"
