"""Fixtures of the connector contract suite: one sandbox per test module, and `crm`, the
module's sandbox as Salesforce or as Zoho CRM, so each test runs once per adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_fixture import CRMS, Crm, Sandbox, start_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = start_sandbox(tmp_path_factory.mktemp("contract"))
    yield sb
    sb.stop()


@pytest.fixture(scope="module", params=CRMS)
def crm(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Crm:
    return Crm(request.param, sandbox, tmp_path_factory.mktemp("token") / "zoho-token.json")


@pytest.fixture(autouse=True)
def _no_fault_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "crm" in request.fixturenames:
        request.getfixturevalue("crm").clear_faults()
