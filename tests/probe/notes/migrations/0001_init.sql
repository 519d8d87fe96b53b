CREATE TABLE notes (
  id TEXT PRIMARY KEY,
  text TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
