"""Fixtures of the studio tests: Capannori with two process administrators, Lucca beside it."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import Role


@pytest.fixture
def capannori(make_office) -> dict[str, Any]:
    """Capannori's office with a second process administrator (the four-eyes colleague)."""
    return make_office(admin2=Role.PROCESS_ADMIN, usernames={"admin": "process_admin.capannori",
                                                              "admin2": "process_admin2.capannori",
                                                              "supervisor": "supervisor.capannori"})


@pytest.fixture
def lucca(make_office) -> dict[str, Any]:
    return make_office(name="Comune di Lucca", istat="046017", belfiore="E715",
                       usernames={"admin": "process_admin.lucca", "supervisor": "supervisor.lucca",
                                  "registrar": "registrar.lucca", "viewer": "viewer.lucca", "police": "police.lucca"})
