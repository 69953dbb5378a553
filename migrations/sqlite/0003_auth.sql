-- Authentication: users (argon2 password hashes), dashboard sessions and API keys.
-- Session tokens and API keys are stored only as SHA-256 hex of the secret. Times are
-- Unix milliseconds.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,             -- argon2id PHC string
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY NOT NULL, -- SHA-256 hex of the cookie value
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,      -- SHA-256 hex of the key
    prefix        TEXT NOT NULL,             -- first characters, to tell keys apart in lists
    user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER                         -- revoked keys stay, so they answer 403
);
