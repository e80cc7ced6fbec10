"""kms: which key a reference names and who manages it, decided once, with each key read once.

The answers are shaped like KMS's documented ones: ListAliases with KeyId lists the aliases of that
key (an AWS managed key always carries alias/aws/<service>; a customer can never create an alias
with that prefix), DescribeKey gives the key's metadata with its Arn."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.kms import AWS, CUSTOMER, KeyReader, is_alias, names_aws_managed_key

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}"


class FakeKms:
    def __init__(self, aliases=()):
        self.aliases = list(aliases)
        self.calls = []

    def list_aliases(self, aws_retry=False, KeyId=None):
        self.calls.append(("ListAliases", KeyId))
        return {"Aliases": [{"AliasName": name, "AliasArn": f"arn:aws:kms:us-east-1:123456789012:{name}", "TargetKeyId": KEY_ID}
                            for name in self.aliases], "Truncated": False}

    def describe_key(self, aws_retry=False, KeyId=None):
        self.calls.append(("DescribeKey", KeyId))
        return {"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "KeyManager": "CUSTOMER"}}


@pytest.mark.parametrize("reference, aws", [
    (None, True), ("", True), ("alias/aws/secretsmanager", True), ("arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager", True),
    ("alias/aws/rds", True), ("alias/orders", False), (KEY_ID, False), (KEY_ARN, False),
])
def test_a_reference_alone_names_an_aws_managed_key_only_by_its_reserved_alias(reference, aws):
    assert names_aws_managed_key(reference) is aws


def test_aliases_are_told_apart_from_keys():
    assert is_alias("alias/orders") and is_alias("arn:aws:kms:us-east-1:123456789012:alias/orders")
    assert not is_alias(KEY_ID) and not is_alias(KEY_ARN) and not is_alias(None)


@pytest.mark.parametrize("aliases, manager", [(["alias/aws/secretsmanager"], AWS), (["alias/orders"], CUSTOMER), ([], CUSTOMER)])
def test_a_key_is_aws_managed_when_it_carries_an_aws_alias_and_is_read_once(aliases, manager):
    kms = FakeKms(aliases)
    reader = KeyReader(kms)
    assert reader.manager(KEY_ARN) == manager and reader.manager(KEY_ARN) == manager
    assert kms.calls == [("ListAliases", KEY_ARN)]


def test_the_customer_key_arn_is_read_only_when_it_is_not_given():
    kms = FakeKms()
    reader = KeyReader(kms)
    assert reader.customer_key_arn(KEY_ARN) == KEY_ARN and kms.calls == [("ListAliases", KEY_ARN)]
    assert reader.customer_key_arn("alias/orders") == KEY_ARN and kms.calls[-1] == ("DescribeKey", "alias/orders")
    # The AWS managed key, or none at all: no kms:Decrypt to grant, nothing asked.
    calls = len(kms.calls)
    assert reader.customer_key_arn("alias/aws/secretsmanager") is None and reader.customer_key_arn(None) is None
    assert len(kms.calls) == calls
