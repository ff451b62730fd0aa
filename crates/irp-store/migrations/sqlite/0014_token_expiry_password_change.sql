-- API tokens with an expiry, and accounts that must choose a new password at their next login
-- (the first start's account). Keep in step with the other backend's
-- 0014_token_expiry_password_change.sql.

ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;          -- NULL: never expires

ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
