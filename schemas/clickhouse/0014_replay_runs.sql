-- Progress of `sqm replay` on the direct runner (docs/replay.md), so `sqm replay --resume` can
-- continue an interrupted replay: one row per input file (by a fingerprint of its bytes), the
-- last line whose rows are durably written, the state generation and the clock of the run. The
-- version grows with the progress: FINAL reads the latest.
-- Statements end with `;` at the end of a line.

CREATE TABLE IF NOT EXISTS sqm.replay_runs
(
    file_key    String,
    file        String,
    lines_done  UInt64,
    finished    Bool,
    generation  UInt64,
    started_at  DateTime64(3, 'UTC'),
    version     UInt64,
    updated_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY file_key;
