-- Kept in step with ../postgres/0004_offers_bulk_writes.sql, which drops PostgreSQL's
-- per-row foreign key check on offers.refurbisher_id (it made bulk feed writes 1.7 times
-- slower there). SQLite's check is a cheap rowid lookup, and dropping a constraint would mean
-- rebuilding the table: nothing changes here.
SELECT 1;
