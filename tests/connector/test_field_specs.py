"""The shared spec check both installers use: the CRM's own rules, then one spec a field."""

from __future__ import annotations

import pytest

from presales_sync.connector import ConfigError
from presales_sync.connector.base import FieldSpec, check_specs
from presales_sync.connector.salesforce._install import check_spec as salesforce_check
from presales_sync.connector.zoho._install import check_spec as zoho_check


def test_a_field_named_twice_is_refused_whatever_its_case() -> None:
    specs = [FieldSpec("Opportunity", "Presales_Step__c", "Step", "Text", length=40),
             FieldSpec("Opportunity", "presales_step__c", "Step", "Text", length=40)]
    with pytest.raises(ConfigError, match=r"duplicate field spec Opportunity\.presales_step__c"):
        check_specs(specs, salesforce_check)
    check_specs(specs[:1], salesforce_check)


def test_the_crms_own_rules_run_first() -> None:
    with pytest.raises(ConfigError, match="no __c"):
        check_specs([FieldSpec("Deals", "Presales_Step__c", "Step", "Text", length=40)], zoho_check)
