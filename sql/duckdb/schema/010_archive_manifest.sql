-- name: archive_manifest
-- What the Parquet archive holds (sql/archive.py): one row per file written for one (table, market, date, symbol)
-- partition. The row is inserted in the transaction that deletes the same rows from the live table, so a row
-- here means "these rows left the live file and are in this file". The file is moved from the staging folder to
-- its place under ARCHIVE_PATH after that commit; placed turns true once it is there (a run killed in between
-- finishes the move at the next run, checking the checksum).
CREATE TABLE IF NOT EXISTS archive_manifest (
    table_name     VARCHAR NOT NULL,   -- trades | quotes | signals (the folder under ARCHIVE_PATH)
    market         VARCHAR NOT NULL,
    day            DATE    NOT NULL,   -- UTC date of the rows' times
    symbol         VARCHAR NOT NULL,
    path           VARCHAR NOT NULL,   -- relative to ARCHIVE_PATH
    staged_path    VARCHAR NOT NULL,   -- relative to ARCHIVE_PATH, where the file waited before the commit
    n_rows         BIGINT  NOT NULL,   -- rows deleted from the live table = rows read back from the file
    n_bytes        BIGINT  NOT NULL,
    sha256         VARCHAR NOT NULL,   -- of the file's bytes
    first_ns       BIGINT  NOT NULL,
    last_ns        BIGINT  NOT NULL,
    archived_at_ns BIGINT  NOT NULL,
    placed         BOOLEAN NOT NULL
);
