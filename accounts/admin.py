from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Membership, Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "istat_code", "belfiore_code", "is_active")
    search_fields = ("name", "istat_code", "belfiore_code")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class ProcedoUserAdmin(UserAdmin):
    inlines = [MembershipInline]
    fieldsets = UserAdmin.fieldsets + (("Procedo", {"fields": ("fiscal_code",)}),)
