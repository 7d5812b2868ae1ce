from django import template

register = template.Library()


@register.filter
def euro(cents) -> str:
    """1600 -> "16,00 €" (Italian decimal comma)."""
    try:
        value = int(cents)
    except (TypeError, ValueError):
        return ""
    return f"{value // 100:,}".replace(",", ".") + f",{value % 100:02d} €"
