-- The latest survey's service-attitude ratings per contact (issue #3): dimension -> 1..5, e.g.
-- ratings['patience']. Contacts written before this migration read an empty map until their
-- next change. Statements end with `;` at the end of a line (sinks/migrations.py splits on that).

ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS ratings Map(String, UInt8) AFTER transfer_count;
