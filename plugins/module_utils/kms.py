# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""KMS keys, read once and decided once: which key a reference names, and whether AWS or the
customer manages it. Only a customer managed key needs ``kms:Decrypt`` on the role that reads a
secret; Secrets Manager uses its AWS managed ``aws/secretsmanager`` key on the caller's behalf.

The database step (which key encrypts the managed secret), the grant (whether to add kms:Decrypt)
and the preflight (whether the execution role may decrypt) all ask here.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.ecsrds.connect.plugins.module_utils.common import call

AWS = "AWS"
CUSTOMER = "CUSTOMER"
# AWS reserves the alias/aws/ prefix: an AWS managed key always carries alias/aws/<service>, and a
# customer can never create an alias with that prefix.
_AWS_ALIAS_PREFIX = "alias/aws/"


def names_aws_managed_key(key_id: Optional[str]) -> bool:
    """Whether the reference alone says AWS manages the key: empty (the service's default key), or an
    alias (or alias ARN) under alias/aws/. A key id or key ARN says nothing by itself."""
    key = (key_id or "").strip()
    if not key:
        return True
    alias = key.split(":", 5)[-1] if key.startswith("arn:") else key
    return alias.startswith(_AWS_ALIAS_PREFIX)


def is_alias(key_id: Optional[str]) -> bool:
    key = (key_id or "").strip()
    return key.startswith("alias/") or (key.startswith("arn:") and ":alias/" in key)


class KeyReader:
    """The one reader of KMS keys. Each answer is kept for the run: a key's manager and ARN never
    change."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._managers: Dict[str, str] = {}
        self._arns: Dict[str, str] = {}

    def manager(self, key_id: str) -> str:
        """AWS or CUSTOMER. One ListAliases for a key id or ARN (its aliases settle it: DescribeKey's
        KeyManager would need a second call where it is answered wrong, and moto reports
        aws/secretsmanager as a customer key); none for an alias, whose name settles it. A key of
        another account lists no alias here, and is a customer key indeed."""
        if names_aws_managed_key(key_id):
            return AWS
        if is_alias(key_id):
            return CUSTOMER
        if key_id not in self._managers:
            response = call(self.client, "list_aliases", f"list the aliases of KMS key {key_id}", KeyId=key_id)
            aliases: List[str] = [alias["AliasName"] for alias in response.get("Aliases", [])]
            self._managers[key_id] = AWS if any(alias.startswith(_AWS_ALIAS_PREFIX) for alias in aliases) else CUSTOMER
        return self._managers[key_id]

    def arn(self, key_id: str) -> str:
        """The key's ARN (an alias resolved by DescribeKey); a key ARN as given."""
        if key_id.startswith("arn:") and ":key/" in key_id:
            return key_id
        if key_id not in self._arns:
            self._arns[key_id] = call(self.client, "describe_key", f"describe KMS key {key_id}", KeyId=key_id)["KeyMetadata"]["Arn"]
        return self._arns[key_id]

    def customer_key_arn(self, key_id: Optional[str]) -> Optional[str]:
        """The ARN of a customer managed key, None for an AWS managed one (or none at all)."""
        if not key_id or self.manager(key_id) == AWS:
            return None
        return self.arn(key_id)
