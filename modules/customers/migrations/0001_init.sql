-- Accounts and their credentials. Secrets are stored only as hashes: passwords as
-- Argon2id strings, refresh tokens and API keys (random, 256-bit) as BLAKE2b digests.
CREATE TABLE accounts (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL,
  email_key     TEXT NOT NULL UNIQUE,       -- lower-cased: unique without regard to case
  name          TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('customer', 'clerk', 'manager', 'admin')),
  status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  version       INTEGER NOT NULL,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX accounts_role ON accounts (role, id);

CREATE TABLE refresh_tokens (
  id          TEXT PRIMARY KEY,
  digest      TEXT NOT NULL UNIQUE,
  family      TEXT NOT NULL,                -- every token descended from one login
  account_id  TEXT NOT NULL REFERENCES accounts (id),
  expires_at  TEXT NOT NULL,
  used_at     TEXT,                         -- spent by a refresh
  revoked_at  TEXT,
  created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);

-- Token signing keys. The newest unretired one signs; retired ones stay published until
-- published_until, so tokens they signed still verify.
CREATE TABLE signing_keys (
  kid             TEXT PRIMARY KEY,
  alg             TEXT NOT NULL,
  secret          TEXT NOT NULL,            -- hex of the private key (EdDSA) or PEM (RS256)
  public_jwk      TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  retired_at      TEXT,
  published_until TEXT
) STRICT;

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  account_id   TEXT NOT NULL REFERENCES accounts (id),
  name         TEXT NOT NULL,
  prefix       TEXT NOT NULL UNIQUE,
  digest       TEXT NOT NULL,
  scopes       TEXT NOT NULL,               -- JSON array
  expires_at   TEXT,
  revoked_at   TEXT,
  last_used_at TEXT,
  created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX api_keys_account ON api_keys (account_id, id);

CREATE TABLE quotas (
  subject             TEXT PRIMARY KEY,     -- cus_… or key_…
  requests_per_minute INTEGER,
  requests_per_hour   INTEGER,
  daily_tokens        INTEGER,
  updated_at          TEXT NOT NULL
) STRICT;
