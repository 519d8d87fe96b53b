CREATE TABLE categories (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  parent_id   TEXT REFERENCES categories(id),
  description TEXT NOT NULL DEFAULT '',
  version     INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX categories_by_parent ON categories(parent_id, id);

CREATE TABLE products (
  id             TEXT PRIMARY KEY,
  sku            TEXT NOT NULL UNIQUE,
  name           TEXT NOT NULL,
  description    TEXT NOT NULL DEFAULT '',
  price_amount   INTEGER NOT NULL CHECK (price_amount >= 0),
  price_currency TEXT NOT NULL,
  category_id    TEXT REFERENCES categories(id),
  status         TEXT NOT NULL CHECK (status IN ('active', 'archived')),
  version        INTEGER NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX products_by_category ON products(category_id, id);
CREATE INDEX products_by_status ON products(status, id);
