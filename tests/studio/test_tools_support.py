"""Fixtures shared by h4's studio tool tests (imported by each test_tools_*.py module): drafts made
through the skeleton Draft (h1's model after the merge: the lead points `make_draft` at h1's service)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.bundles import read_bundle
from studio.scenarios import PROCESSES


def _any_admin(tenant: Any) -> Any:
    from accounts.models import Membership
    from accounts.roles import Role
    from tests.factories import make_user

    membership = Membership.objects.filter(tenant=tenant, role=Role.PROCESS_ADMIN).select_related("user").first()
    return membership.user if membership else make_user(tenant, Role.PROCESS_ADMIN)


@pytest.fixture
def make_draft():
    def make(tenant: Any, process_id: str = "residence_change", files: dict[str, str] | None = None,
             **changes: str) -> Any:
        from engine.models import ProcessVersion
        from studio.models import Draft
        from studio.services import draft_create

        version = ProcessVersion.objects.filter(definition__process_id=process_id, tenant__isnull=True).order_by(
            "-version").first()
        if version is None:
            from engine.registry import process_version_publish

            version = process_version_publish(bundle=read_bundle(PROCESSES / process_id))
        admin = _any_admin(tenant)
        draft = draft_create(tenant=tenant, actor=admin, version_id=version.pk)
        base = dict(files if files is not None else read_bundle(PROCESSES / process_id).files)
        base.update(changes)
        Draft.objects.filter(pk=draft.pk).update(files=base)
        draft.refresh_from_db()
        return draft

    return make


@pytest.fixture
def admin_client(office):
    from tests.factories import second_factor_client

    return second_factor_client(office["admin"])
