-- Stock per SKU and location, reservations, transfers and adjustments. The CHECK on levels
-- is the last line of the no-oversell rule: a write that would make available negative fails.
CREATE TABLE locations (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('warehouse', 'store')),
  created_at TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO locations (id, name, kind, created_at)
VALUES ('web', 'Web warehouse', 'warehouse', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE levels (
  sku        TEXT NOT NULL,
  location   TEXT NOT NULL REFERENCES locations (id),
  on_hand    INTEGER NOT NULL,
  reserved   INTEGER NOT NULL,
  threshold  INTEGER,
  low        INTEGER NOT NULL DEFAULT 0,
  version    INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (sku, location),
  CHECK (reserved >= 0 AND reserved <= on_hand)
) WITHOUT ROWID;

CREATE INDEX levels_by_location ON levels (location, sku);
CREATE INDEX levels_low ON levels (sku, location) WHERE low = 1;

CREATE TABLE reservations (
  id         TEXT PRIMARY KEY,
  location   TEXT NOT NULL REFERENCES locations (id),
  status     TEXT NOT NULL CHECK (status IN ('active', 'released', 'committed', 'expired')),
  reason     TEXT,
  expires_at TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX reservations_due ON reservations (expires_at) WHERE status = 'active';

CREATE TABLE reservation_lines (
  reservation_id TEXT NOT NULL REFERENCES reservations (id),
  line           INTEGER NOT NULL,
  sku            TEXT NOT NULL,
  quantity       INTEGER NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (reservation_id, line)
) WITHOUT ROWID;

CREATE TABLE adjustments (
  id         TEXT PRIMARY KEY,
  sku        TEXT NOT NULL,
  location   TEXT NOT NULL,
  delta      INTEGER NOT NULL,
  reason     TEXT NOT NULL,
  actor      TEXT NOT NULL,
  created_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX adjustments_by_level ON adjustments (sku, location, id);

CREATE TABLE transfers (
  id            TEXT PRIMARY KEY,
  from_location TEXT NOT NULL REFERENCES locations (id),
  to_location   TEXT NOT NULL REFERENCES locations (id),
  status        TEXT NOT NULL CHECK (status IN ('in_transit', 'partially_received', 'received', 'canceled')),
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE transfer_lines (
  transfer_id TEXT NOT NULL REFERENCES transfers (id),
  line        INTEGER NOT NULL,
  sku         TEXT NOT NULL,
  quantity    INTEGER NOT NULL CHECK (quantity > 0),
  received    INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= quantity),
  PRIMARY KEY (transfer_id, line)
) WITHOUT ROWID;
