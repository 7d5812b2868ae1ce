from django import template

from ..cns import cns_enabled
from ..idps import identity_providers

register = template.Library()


@register.inclusion_tag("identity/_buttons.html", takes_context=True)
def identity_buttons(context, level: str = "SpidL2"):
    """The "Entra con SPID / CIE / eIDAS" block (AgID button guidelines; works without JavaScript)."""
    request = context.get("request")
    idps = identity_providers()
    return {
        "request": request,
        "spid_idps": [i for i in idps if i.scheme == "spid"],
        "cie_idps": [i for i in idps if i.scheme == "cie"],
        "eidas_idps": [i for i in idps if i.scheme == "eidas"],
        "cns": cns_enabled(),
        "level": level, "next": context.get("next", ""), "ente": "",
    }
