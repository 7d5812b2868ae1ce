"""Seed the load drill's database: one municipality, its operators, readers and "citizens", API tokens
and ready sessions (no password hashing under load), and INITIAL_CASES open residence-change cases.
Writes the users' credentials as JSON to the path given as argument (read by the locustfile).

Citizens are not seeded as accounts: each signs in with SPID through the demo identity provider during
the run (their `cf:<fiscal code>` account is made at the first sign-in); the file names the demo
identities and the IdP's entity id. The SP's and the demo IdP's certificates are made here
(`manage.py spid_setup`, under the stack's var directory).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from accounts.models import Membership, Tenant, User  # noqa: E402
from cases.services import case_start  # noqa: E402
from identity.demo_idp import idp  # noqa: E402

DECLARATION = {
    "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "declaration_date": "2026-03-01",
}


def _user(tenant: Tenant, username: str, role: str) -> dict:
    user = User.objects.create(username=username, first_name=username.split(".")[0].title(), last_name=username)
    user.set_unusable_password()
    user.save()
    Membership.objects.create(user=user, tenant=tenant, role=role)
    token, _ = Token.objects.get_or_create(user=user)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return {"username": username, "role": role, "token": token.key, "session": session.session_key}


def _register(tenant: Tenant, people: int) -> list[int]:
    """A small population register for the person pages: households of two at numbered civici of one street,
    each person with their membership and current residence."""
    import datetime as dt

    from registry.models import Household, HouseholdMember, HouseNumber, Person, Residence, Street

    street = Street.objects.create(tenant=tenant, code="V0001", species=213, name="ROMA", search_name="roma")
    ids = []
    for i in range(people):
        if i % 2 == 0:
            civico = HouseNumber.objects.create(tenant=tenant, street=street, code=f"C{i}", number=i + 1,
                                                created_on=dt.date(1970, 1, 1))
            household = Household.objects.create(tenant=tenant, legacy_id=f"F{i}", formed_on=dt.date(2005, 5, 1))
        person = Person.objects.create(tenant=tenant, legacy_id=f"P{i}", family_name="ROSSI", given_name=f"MARIO{i}",
                                       search_name=f"rossi mario{i}", sex="M", birth_date=dt.date(1980, 1, 1))
        HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1 + i % 2,
                                       joined_on=dt.date(2005, 5, 1))
        Residence.objects.create(tenant=tenant, person=person, house_number=civico, household=household,
                                 start_date=dt.date(2005, 5, 1), opening_event="birth")
        ids.append(person.pk)
    return ids


def main(out: Path) -> None:
    call_command("spid_setup")
    tenant = Tenant.objects.create(name="Comune di Capannori", slug="capannori", istat_code="046007", belfiore_code="B648")
    registrars = int(os.environ.get("LOAD_REGISTRARS", "15"))
    police = int(os.environ.get("LOAD_POLICE", "10"))
    readers = int(os.environ.get("LOAD_READERS", "200"))
    citizens = int(os.environ.get("LOAD_CITIZENS", "20"))
    users = {
        "tenant": tenant.istat_code,
        "registrars": [_user(tenant, f"registrar.{i}", "registrar") for i in range(registrars)],
        "police": [_user(tenant, f"police.{i}", "police") for i in range(police)],
        "readers": [_user(tenant, f"reader.{i}", "viewer") for i in range(readers)],
        "citizens": [{"fiscal_code": i.fiscal_code, "given_name": i.name, "family_name": i.family_name}
                     for i in idp.IDENTITIES][: max(1, citizens)],
        "demo_idp": idp.entity_id(),
        "supervisors": [_user(tenant, f"supervisor.{i}", "supervisor") for i in range(int(os.environ.get("LOAD_SUPERVISORS", "0")))],
    }
    users["person_ids"] = _register(tenant, int(os.environ.get("INITIAL_PEOPLE", "200")))
    opener = User.objects.get(username="registrar.0")
    ids = [case_start(tenant=tenant, user=opener, process_id="residence_change", data=DECLARATION).pk
           for _ in range(int(os.environ.get("INITIAL_CASES", "300")))]  # noqa: C416
    users["case_ids"] = ids
    out.write_text(json.dumps(users))
    counted = ("case_ids", "person_ids", "citizens")
    print(f"seeded {sum(len(v) for k, v in users.items() if isinstance(v, list) and k not in counted)} users, "
          f"{len(ids)} cases, {len(users['person_ids'])} people in the register")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
