from __future__ import annotations

from typing import Any

from common import clock

from .models import Draft


def draft_save(*, work_item, user, data: dict[str, Any]) -> Draft:
    draft, _ = Draft.objects.update_or_create(
        work_item_id=work_item.pk, user=user,
        defaults={"tenant_id": work_item.tenant_id, "data": data, "updated_at": clock.now()},
    )
    return draft


def draft_get(*, work_item, user) -> Draft | None:
    return Draft.objects.filter(work_item_id=work_item.pk, user=user).first()


def draft_discard(*, work_item, user) -> None:
    Draft.objects.filter(work_item_id=work_item.pk, user=user).delete()
