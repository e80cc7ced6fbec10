# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The `subnets` option of the modules that take already described subnets (network.SUBNET_OPTIONS).
    DOCUMENTATION = r"""
options:
  subnets:
    description:
      - The subnets of O(subnet_ids) as another task already described them (for example the C(discovered.subnets) that
        M(ecsrds.connect.deployment_check) returns), so that they are not described again.
      - Used only when it describes every subnet in O(subnet_ids) in full; otherwise the subnets are described.
    type: list
    elements: dict
    suboptions:
      subnet_id:
        description: Subnet id.
        type: str
      availability_zone:
        description: Its Availability Zone.
        type: str
      cidr_block:
        description: Its IPv4 range.
        type: str
      vpc_id:
        description: Its VPC.
        type: str
"""
