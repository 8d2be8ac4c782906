-- SLA policies wired into the metrics (issue #3; docs/policies.md, docs/metrics.md): per contact
-- the policy's first-response clock and outcome, next-response and resolution targets, handle
-- time and the policy version; per one-minute window the policy's service-level outcomes and CSAT
-- counters. Rows written before this migration (contract v1's policy) read what v1 implies via the
-- DEFAULT expressions; CSAT window counters and survey times read 0 / NULL until rewritten.
-- Statements end with `;` at the end of a line (sinks/migrations.py splits on that).

ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS sla_clock LowCardinality(String) DEFAULT 'calendar' AFTER ratings;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS sla_start_at Nullable(DateTime64(3, 'UTC')) DEFAULT queued_at AFTER sla_clock;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS sla_due_at Nullable(DateTime64(3, 'UTC')) DEFAULT queued_at + toIntervalSecond(sla_target_s) AFTER sla_start_at;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS first_response_s Nullable(Decimal(18, 3)) DEFAULT wait_s AFTER sla_due_at;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS sla_outcome LowCardinality(Nullable(String)) DEFAULT multiIf(answered_at IS NOT NULL, if(answered_in_sla, 'met', 'missed'), abandoned_at IS NOT NULL, if(is_short_abandon, 'excluded', 'missed'), NULL) AFTER first_response_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS next_response_count UInt32 AFTER sla_outcome;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS next_response_sum_s Decimal(18, 3) AFTER next_response_count;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS next_response_max_s Nullable(Decimal(18, 3)) AFTER next_response_sum_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS next_response_missed Nullable(UInt32) AFTER next_response_max_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS resolution_target_s Nullable(UInt32) AFTER next_response_missed;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS resolution_in_sla Nullable(Bool) AFTER resolution_target_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS handle_s Nullable(Decimal(18, 3)) AFTER resolution_in_sla;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS surveyed_at Nullable(DateTime64(3, 'UTC')) AFTER handle_s;
ALTER TABLE sqm.contacts ADD COLUMN IF NOT EXISTS policy_version LowCardinality(String) DEFAULT 'default' AFTER surveyed_at;
ALTER TABLE sqm.sla_1m ADD COLUMN IF NOT EXISTS sl_met UInt32 DEFAULT answered_in_sla AFTER repeat_contacts;
ALTER TABLE sqm.sla_1m ADD COLUMN IF NOT EXISTS sl_missed UInt32 DEFAULT answered - answered_in_sla + abandoned - short_abandoned AFTER sl_met;
ALTER TABLE sqm.sla_1m ADD COLUMN IF NOT EXISTS csat_count UInt32 AFTER sl_missed;
ALTER TABLE sqm.sla_1m ADD COLUMN IF NOT EXISTS csat_sum UInt32 AFTER csat_count;
ALTER TABLE sqm.sla_1m ADD COLUMN IF NOT EXISTS csat_good UInt32 AFTER csat_sum;
ALTER TABLE sqm.sla_1m ADD COLUMN IF NOT EXISTS policy_version LowCardinality(String) DEFAULT 'default' AFTER csat_good;

-- The views over the one-minute grain gain the new counters; service level is the policy's
-- met / (met + missed) (with the default policy: answered_in_sla / (answered + abandoned -
-- short_abandoned), as before).
CREATE OR REPLACE VIEW sqm.sla_1m_total AS SELECT window_start, tenant_id, channel, queue, priority, sum(offered) AS offered, sum(answered) AS answered, sum(answered_in_sla) AS answered_in_sla, sum(wait_s_sum) AS wait_s_sum, sum(abandoned) AS abandoned, sum(short_abandoned) AS short_abandoned, sum(created) AS created, sum(repeat_contacts) AS repeat_contacts, sum(sl_met) AS sl_met, sum(sl_missed) AS sl_missed, sum(csat_count) AS csat_count, sum(csat_sum) AS csat_sum, sum(csat_good) AS csat_good, max(updated_at) AS updated_at FROM sqm.sla_1m FINAL GROUP BY window_start, tenant_id, channel, queue, priority;
CREATE OR REPLACE VIEW sqm.sla_windows AS SELECT window_start, tenant_id, channel, queue, priority, offered, answered, answered_in_sla, wait_s_sum, abandoned, short_abandoned, created, repeat_contacts, sl_met, sl_missed, csat_count, csat_sum, csat_good, answered + abandoned - short_abandoned AS sl_denominator, if(sl_met + sl_missed = 0, NULL, sl_met / (sl_met + sl_missed)) AS service_level, if(answered = 0, NULL, toFloat64(wait_s_sum) / answered) AS wait_s_avg, if(sl_denominator = 0, NULL, (abandoned - short_abandoned) / sl_denominator) AS abandon_rate, if(created = 0, NULL, repeat_contacts / created) AS repeat_rate, if(csat_count = 0, NULL, csat_sum / csat_count) AS csat_mean, if(csat_count = 0, NULL, csat_good / csat_count) AS csat_share FROM (SELECT toStartOfInterval(m.window_start, toIntervalMinute({minutes:UInt32})) AS window_start, m.tenant_id AS tenant_id, m.channel AS channel, m.queue AS queue, m.priority AS priority, sum(m.offered) AS offered, sum(m.answered) AS answered, sum(m.answered_in_sla) AS answered_in_sla, sum(m.wait_s_sum) AS wait_s_sum, sum(m.abandoned) AS abandoned, sum(m.short_abandoned) AS short_abandoned, sum(m.created) AS created, sum(m.repeat_contacts) AS repeat_contacts, sum(m.sl_met) AS sl_met, sum(m.sl_missed) AS sl_missed, sum(m.csat_count) AS csat_count, sum(m.csat_sum) AS csat_sum, sum(m.csat_good) AS csat_good FROM sqm.sla_1m_total AS m GROUP BY window_start, tenant_id, channel, queue, priority);
