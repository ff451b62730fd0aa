-- Operator accounts and their sessions (issue 7). Keep in step with the other backend's
-- 0009_users.sql.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT NOT NULL,                    -- lower-case
    password_hash  TEXT NOT NULL,                    -- argon2id PHC string
    role           TEXT NOT NULL,                    -- viewer | operator
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_login_at  TEXT,
    disabled_at    TEXT,
    CONSTRAINT users_email_unique UNIQUE (email)
);

CREATE TABLE sessions (
    token_hash     TEXT PRIMARY KEY,                 -- SHA-256 of the cookie value, hex
    user_id        BIGINT NOT NULL REFERENCES users (id),
    csrf_token     TEXT NOT NULL,                    -- sent back with every form that changes something
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,                      -- absolute end
    last_seen_at   TEXT NOT NULL,                      -- idle end: last_seen_at + idle timeout
    source         TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
