-- The accounts' postal addresses. At most one default of each kind per account: the
-- service clears the old default in the same transaction, the partial index makes sure.
CREATE TABLE addresses (
  id          TEXT PRIMARY KEY,
  account_id  TEXT NOT NULL REFERENCES accounts (id),
  kind        TEXT NOT NULL CHECK (kind IN ('shipping', 'billing')),
  is_default  INTEGER NOT NULL CHECK (is_default IN (0, 1)),
  recipient   TEXT NOT NULL,
  line1       TEXT NOT NULL,
  line2       TEXT,
  city        TEXT NOT NULL,
  region      TEXT,
  postal_code TEXT NOT NULL,
  country     TEXT NOT NULL,
  phone       TEXT,
  version     INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX addresses_account ON addresses (account_id, id);
CREATE UNIQUE INDEX addresses_one_default ON addresses (account_id, kind) WHERE is_default = 1;
