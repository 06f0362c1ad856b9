"""The sandbox's Get Records reach over HTTPS: one paged read hands out at most
``ZohoLimits.page_token_records`` records (Zoho: 100,000), whether paged by page or by
page_token, never a record past it, and the page past it is ``PAGINATION_LIMIT_EXCEEDED``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_seed import PLUGIN_ORG
from test_zoho_http import Zoho, error_of
from zoho_schema import validate

from presales_sync.sandbox import Sandbox, ZohoLimits


def test_the_reach_is_exact_by_page_token(tmp_path: Path) -> None:
    limits = ZohoLimits(discrete_records=20, page_token_records=45)
    with Sandbox(tmp_path / "sb", seed=60, zoho_limits=limits, org=PLUGIN_ORG) as box:
        z = Zoho(box)

        def page(**params: Any) -> requests.Response:
            return z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 10, "sort_by": "id",
                                                  "sort_order": "asc", **params})

        got = page(page=1).json()["data"] + page(page=2).json()["data"]
        token = page(page=2).json()["info"]["next_page_token"]
        last: dict[str, Any] = {}
        for _ in range(3):
            last = page(page_token=token).json()
            validate("records_get_response", last)
            got += last["data"]
            token = last["info"]["next_page_token"]
        # the fifth page stops at the 45th record, and says more are there
        assert last["info"]["count"] == 5 and last["info"]["more_records"] is True
        ids = [d["id"] for d in got]
        assert len(ids) == len(set(ids)) == 45
        body = error_of(page(page_token=token), 400, "PAGINATION_LIMIT_EXCEEDED")
        assert body["details"] == {"limit": 45}


def test_a_reach_below_the_discrete_limit_stops_page_too(tmp_path: Path) -> None:
    limits = ZohoLimits(page_token_records=25)
    with Sandbox(tmp_path / "sb", seed=60, zoho_limits=limits, org=PLUGIN_ORG) as box:
        z = Zoho(box)

        def page(n: int) -> requests.Response:
            return z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 10, "page": n})

        third = page(3).json()
        assert third["info"]["count"] == 5 and third["info"]["more_records"] is True
        error_of(page(4), 400, "PAGINATION_LIMIT_EXCEEDED")


def test_limits_are_checked() -> None:
    assert ZohoLimits().page_token_records == 100_000  # Zoho's documented reach
    with pytest.raises(ValueError, match="page_token_records"):
        ZohoLimits(page_token_records=0)
