# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The attributes of the modules that only read (the inputs check, the preflight, the log check).
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode does exactly what a run does.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
"""
