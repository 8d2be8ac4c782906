-- Resolution times, reopens and transfers per contact (issue #3; definitions in docs/metrics.md).
-- Contacts written before this migration read 0 / NULL here until their next change rewrites
-- them. Statements end with `;` at the end of a line (sinks/migrations.py splits on that).

ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS first_resolved_at Nullable(DateTime64(3, 'UTC')) AFTER event_count;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS first_resolution_s Nullable(Decimal(18, 3)) AFTER first_resolved_at;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS resolution_s Nullable(Decimal(18, 3)) AFTER first_resolution_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS reopen_count UInt16 AFTER resolution_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS transfer_count UInt16 AFTER reopen_count;
