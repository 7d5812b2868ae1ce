"""A municipality's own variant of a procedure: its new cases start on it, every other municipality
keeps the shipped version and never sees the variant; running cases keep their version."""

from __future__ import annotations

import pytest

from cases.services import case_start
from engine.models import ProcessVersion
from engine.selectors import process_latest_version, process_versions_visible
from tests.factories import declaration_payload, second_factor_client
from tests.studio.helpers import MAIN, RENAMED_TASK, edit, fork, publish

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _start(office):
    return case_start(tenant=office["tenant"], user=office["registrar"], process_id="residence_change",
                      data=declaration_payload())


def test_new_cases_of_the_tenant_start_on_its_variant_and_others_keep_the_shipped_one(capannori, lucca):
    shipped = process_latest_version(process_id="residence_change")
    running = _start(capannori)
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    variant = publish(capannori, draft)

    assert variant.tenant == capannori["tenant"] and variant.based_on == shipped
    assert variant.version > shipped.version and variant.content_hash != shipped.content_hash
    assert _start(capannori).process_version_id == variant.pk
    assert _start(lucca).process_version_id == shipped.pk
    running.refresh_from_db()
    assert running.process_version_id == shipped.pk  # a running case keeps its version
    assert process_latest_version(process_id="residence_change") == shipped  # shipped stays the shipped one


def test_other_tenants_never_see_the_variant(capannori, lucca):
    variant = publish(capannori, edit(capannori, fork(capannori), MAIN, *RENAMED_TASK))
    assert variant not in process_versions_visible(tenant=lucca["tenant"])
    assert variant in process_versions_visible(tenant=capannori["tenant"])
    client = second_factor_client(lucca["admin"])
    for url in (f"/studio/versioni/{variant.pk}/esporta/", f"/studio/versioni/{variant.pk}/diagramma/",
                f"/studio/differenze/?da={variant.based_on_id}&a={variant.pk}"):
        assert client.get(url).status_code == 404, url
    page = client.get("/studio/procedimenti/residence_change/versioni/").content.decode()
    assert f'value="{variant.pk}"' not in page and f'value="{variant.based_on_id}"' in page
    # Lucca forks what it sees: the shipped version, never Capannori's
    from common.errors import NotFound
    from studio import services

    with pytest.raises(NotFound):
        services.draft_create(tenant=lucca["tenant"], actor=lucca["admin"], version_id=variant.pk)


def test_sync_of_an_unchanged_shipped_bundle_does_not_collide_with_a_variant(capannori):
    from tests.factories import sync_processes

    publish(capannori, edit(capannori, fork(capannori), MAIN, *RENAMED_TASK))
    before = ProcessVersion.objects.filter(tenant__isnull=True).count()
    sync_processes()
    assert ProcessVersion.objects.filter(tenant__isnull=True).count() == before
