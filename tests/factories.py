"""Test data builders shared by the suites: factory_boy factories for the core models, the
residence-change declaration payload, and the sign-in helpers.

Rows that have a service (a case, a published process version) are made through that service, so
a factory never builds a state the product could not reach. `make_tenant` and `make_user` stay as
the short spellings most modules use."""

from __future__ import annotations

from typing import Any

import factory
from django.utils.text import slugify
from factory.django import DjangoModelFactory
from rest_framework.test import APIClient

from accounts.models import Membership, Tenant, User
from accounts.roles import Role
from cases.models import Case, WorkItem
from engine.models import ProcessDefinition, ProcessVersion

PASSWORD = "pw-test-123"
MARIO_CF = "RSSMRA80A01H501U"  # the declarant of the standard declaration, and the standard citizen


# --------------------------------------------------------------------------- tenants and people


class TenantFactory(DjangoModelFactory):
    """A municipality with unique codes; pass istat/belfiore for a real one (Capannori: 046007, B648)."""

    class Meta:
        model = Tenant

    name = "Comune di Prova"
    slug = factory.LazyAttributeSequence(lambda o, n: f"t{n}-{slugify(o.name)}"[:50])
    istat_code = factory.Sequence(lambda n: f"{900000 + n:06d}")
    # Four characters, unique for 8,000 tenants per session (the suite makes more than 1,000: a plain
    # f"Z{n:03d}"[:4] wrapped at n = 1000 onto Z100 and collided).
    belfiore_code = factory.Sequence(lambda n: f"{'ZYXWVUTS'[(n // 1000) % 8]}{n % 1000:03d}")
    patron_month = None
    patron_day = None


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory("tests.factories.UserFactory")
    tenant = factory.SubFactory(TenantFactory)
    role = Role.REGISTRAR


class UserFactory(DjangoModelFactory):
    """A user with one membership per role of `roles` in `tenant`, password `PASSWORD`."""

    class Meta:
        model = User

    tenant = factory.SubFactory(TenantFactory)
    roles: tuple[str, ...] = ()
    username = factory.LazyAttributeSequence(
        lambda o, n: f"{'-'.join(o.roles) or 'user'}.{o.tenant.slug}.{n}")
    fiscal_code = ""

    @classmethod
    def _create(cls, model_class, *args: Any, tenant: Tenant, roles: tuple[str, ...], **kwargs: Any) -> User:
        user = model_class.objects.create_user(*args, password=PASSWORD, **kwargs)
        for role in roles:
            MembershipFactory(user=user, tenant=tenant, role=role)
        return user

    @classmethod
    def _build(cls, model_class, *args: Any, tenant: Tenant, roles: tuple[str, ...], **kwargs: Any) -> User:
        return model_class(*args, **kwargs)


def make_tenant(name: str = "Comune di Prova", *, istat: str | None = None, belfiore: str | None = None,
                patron: tuple[int, int] | None = None) -> Tenant:
    codes = {"istat_code": istat} if istat else {}
    if belfiore:
        codes["belfiore_code"] = belfiore
    return TenantFactory(name=name, patron_month=patron[0] if patron else None,
                         patron_day=patron[1] if patron else None, **codes)


def make_user(tenant: Tenant, *roles: str, username: str | None = None, fiscal_code: str = "") -> User:
    extra = {"username": username} if username else {}
    return UserFactory(tenant=tenant, roles=roles, fiscal_code=fiscal_code, **extra)


# --------------------------------------------------------------------------- the residence-change declaration


class AddressFactory(factory.DictFactory):
    street = "Via Roma"
    house_number = "12"
    municipality_istat = "046007"  # Capannori


class DeclarantFactory(factory.DictFactory):
    fiscal_code = MARIO_CF
    given_name = "Mario"
    family_name = "Rossi"


class DeclarationFactory(factory.DictFactory):
    """The start data of `residence_change` (processes/residence_change/forms/start.schema.json)."""

    declarants = factory.List([factory.SubFactory(DeclarantFactory)])
    new_address = factory.SubFactory(AddressFactory)
    declaration_date = "2026-03-01"


def declaration_payload(**overrides: Any) -> dict[str, Any]:
    """A fresh residence-change declaration by Mario Rossi moving within Capannori.

    factory_boy's double-underscore paths reach inside: `declarants__0__fiscal_code=cf`,
    `new_address__house_number="1"`; a whole key can be replaced too (`declarants=[...]`)."""
    return DeclarationFactory(**overrides)


def declarant(fiscal_code: str = MARIO_CF, **fields: Any) -> dict[str, Any]:
    return DeclarantFactory(fiscal_code=fiscal_code, **fields)


# --------------------------------------------------------------------------- processes, cases, work items


def sync_processes() -> None:
    """Publish processes/*/ (what `manage.py sync_processes` does at deploy; idempotent)."""
    from django.core.management import call_command

    call_command("sync_processes", verbosity=0)


class ProcessVersionFactory(factory.Factory):
    """A published version of tests/engine/models/<name>.bpmn (see tests.engine_models.publish_model)."""

    class Meta:
        model = ProcessVersion  # made by `_create`: a version only exists once published

    name = "gateways"
    also: tuple[str, ...] = ()
    manifest_extra = None

    @classmethod
    def _create(cls, model_class, *, name: str, also: tuple[str, ...], manifest_extra: dict | None) -> ProcessVersion:
        from tests.engine_models import publish_model

        return publish_model(name, also=tuple(also), manifest_extra=manifest_extra)


class CaseFactory(factory.Factory):
    """A case opened through `cases.services.case_start`, by a registrar of `tenant` unless `user` is given.
    The shipped procedures are published first when `process_id` is not known yet."""

    class Meta:
        model = Case  # made by `_create`, through the service

    tenant = factory.SubFactory(TenantFactory)
    user = factory.LazyAttribute(lambda o: UserFactory(tenant=o.tenant, roles=(Role.REGISTRAR,)))
    process_id = "residence_change"
    data = factory.SubFactory(DeclarationFactory)

    @classmethod
    def _create(cls, model_class, *, tenant: Tenant, user: User, process_id: str, data: dict) -> Case:
        from cases.services import case_start

        if not ProcessDefinition.objects.filter(process_id=process_id).exists():
            sync_processes()
        return case_start(tenant=tenant, user=user, process_id=process_id, data=data)


def work_item(case: Case, bpmn_id: str) -> WorkItem:
    """The work item the engine opened for task `bpmn_id` of `case`."""
    return WorkItem.objects.get(case=case, bpmn_id=bpmn_id)


class WorkItemFactory(factory.Factory):
    """The `bpmn_id` work item of a fresh case (the engine makes work items; nothing else may)."""

    class Meta:
        model = WorkItem  # looked up by `_create`: the engine made it

    case = factory.SubFactory(CaseFactory)
    bpmn_id = "registration"

    @classmethod
    def _create(cls, model_class, *, case: Case, bpmn_id: str) -> WorkItem:
        return work_item(case, bpmn_id)


# --------------------------------------------------------------------------- clients and second factor


def api_client(user: User, tenant: Tenant | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    if tenant is not None:
        client.credentials(HTTP_X_PROCEDO_TENANT=tenant.istat_code)
    return client


def enrol_totp(user: User):
    """A confirmed TOTP device for the user (process administrators cannot work without one)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def totp_now(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def second_factor_client(user: User):
    """A page client signed in as `user` with a verified second factor (process administrators and
    superusers work only so; harmless for everyone else)."""
    from django.test import Client

    client = Client()
    login_with_second_factor(client, user)
    return client


def login_with_second_factor(client, user: User):
    """force_login plus a second factor verified in the session, as after /accedi/verifica/."""
    from django_otp import DEVICE_ID_SESSION_KEY

    device = enrol_totp(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
