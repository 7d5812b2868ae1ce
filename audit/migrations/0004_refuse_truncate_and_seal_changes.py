"""PostgreSQL refuses TRUNCATE of the audit tables (a statement trigger: the row triggers of 0002
never see a TRUNCATE), and UPDATE or DELETE of a seal. Only someone able to switch triggers off
(the table owner with ALTER TABLE, a superuser with session_replication_role) gets past, and the
seals make what they then delete visible to `verify_audit`. The test suite's flushes run in
replica mode for that reason (tests/conftest.py)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION procedo_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit rows are append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION procedo_audit_refuse_change();
CREATE TRIGGER audit_chainhead_no_truncate
    BEFORE TRUNCATE ON audit_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION procedo_audit_refuse_change();
CREATE TRIGGER audit_seal_append_only
    BEFORE UPDATE OR DELETE ON audit_auditseal
    FOR EACH ROW EXECUTE FUNCTION procedo_audit_refuse_change();
CREATE TRIGGER audit_seal_no_truncate
    BEFORE TRUNCATE ON audit_auditseal
    FOR EACH STATEMENT EXECUTE FUNCTION procedo_audit_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_chainhead_no_truncate ON audit_auditchainhead;
DROP TRIGGER IF EXISTS audit_seal_append_only ON audit_auditseal;
DROP TRIGGER IF EXISTS audit_seal_no_truncate ON audit_auditseal;
DROP FUNCTION IF EXISTS procedo_audit_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_seals_and_session_actions")]
    operations = [migrations.RunPython(forwards, backwards)]
