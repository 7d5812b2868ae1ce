"""The migration pages in a real browser (issue 15): a process administrator writes a plan (an
error first), runs a dry run and watches the progress bar fill through htmx without reloading;
axe-core on every page, on a desktop and on a 375 px phone."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.roles import Role
from cases.services import case_start, work_item_complete
from engine import migration
from engine.models import MigrationBatch
from tests.e2e.conftest import check_accessibility, screenshot
from tests.engine.migration_models import linear, publish
from tests.factories import make_tenant, make_user, second_factor_client

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 375, "height": 800}]


def _signed_in_page(browser, live_server, user, viewport):
    """A page whose session carries a verified second factor (process administrators need one)."""
    client = second_factor_client(user)
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])
    return context.new_page()


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_a_process_admin_plans_and_dry_runs_a_migration_in_the_browser(browser, live_server, viewport):
    label = "phone" if viewport["width"] < 500 else "desktop"
    tenant = make_tenant(name="Comune di Capannori", istat="046007", belfiore="B648")
    registrar, admin = make_user(tenant, Role.REGISTRAR), make_user(tenant, Role.PROCESS_ADMIN)
    v1 = publish(linear("p", "a", "b"))
    cases = [case_start(tenant=tenant, user=registrar, process_id="p", data={}) for _ in range(3)]
    item = cases[0].work_items.get(status="open")
    work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar, data={})
    v2 = publish(linear("p", "a", "c"))
    base = live_server.url
    page = _signed_in_page(browser, live_server, admin, viewport)

    page.goto(f"{base}/amministrazione/migrazioni/")
    check_accessibility(page, f"migration plans ({label})")
    page.click("text=Nuovo piano di migrazione")
    page.select_option("#id_source", str(v1.pk))
    page.select_option("#id_target", str(v2.pk))
    page.fill("#id_overrides", "b = ghost")
    page.click("button:has-text('Salva il piano')")
    assert "non esiste nella versione di arrivo" in page.locator("#id_overrides_err").inner_text()
    assert page.input_value("#id_overrides") == "b = ghost"
    check_accessibility(page, f"plan form with errors ({label})")
    screenshot(page, f"migration-plan-form-{label}")

    page.fill("#id_overrides", "")
    page.fill("#id_title", "Tolta la verifica B")
    page.click("button:has-text('Salva il piano')")
    page.wait_for_selector("h1:has-text('Tolta la verifica B')")
    assert page.locator("tbody tr", has_text="nessuna (rimosso)").count() == 1
    check_accessibility(page, f"plan page ({label})")
    screenshot(page, f"migration-plan-{label}")

    page.click("button:has-text('Prova (nessuna modifica)')")
    page.wait_for_selector("#batch-bar")
    assert "0 pratiche esaminate su 3" in page.locator("#batch-progress").inner_text()
    check_accessibility(page, f"batch running ({label})")
    batch = MigrationBatch.objects.get(plan__tenant=tenant)
    migration.batch_run(batch.pk)  # what the engine worker does
    # the progress fragment polls every 2 s: the page shows the end without a reload
    page.wait_for_selector("#batch-progress:has-text('3 pratiche esaminate su 3')", timeout=10000)
    page.click("text=Aggiorna l'elenco")
    assert page.locator("tbody tr", has_text="rimossa e non mappata").count() == 1
    assert page.locator("tbody tr .badge", has_text="Migrabile").count() == 2
    wide = page.evaluate("document.documentElement.scrollWidth")
    culprits = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert wide <= viewport["width"], f"page is {wide}px wide: {culprits}"
    check_accessibility(page, f"batch results ({label})")
    screenshot(page, f"migration-batch-{label}")
    page.context.close()
