-- Carts and their lines. A cart's totals are not stored: they are computed from its lines
-- and the configured tax rates when it is read.
CREATE TABLE carts (
  id TEXT PRIMARY KEY,
  customer_id TEXT,
  token_hash TEXT UNIQUE,
  status TEXT NOT NULL CHECK (status IN ('open', 'checking_out', 'checked_out', 'expired')),
  currency TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL,
  prices_include_tax INTEGER NOT NULL,
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  order_id TEXT,
  checkout_snapshot TEXT
);
-- A customer has at most one cart that is open or checking out.
CREATE UNIQUE INDEX carts_one_active_per_customer ON carts(customer_id)
  WHERE customer_id IS NOT NULL AND status IN ('open', 'checking_out');
CREATE INDEX carts_open_by_expiry ON carts(expires_at) WHERE status = 'open';

CREATE TABLE cart_lines (
  id TEXT PRIMARY KEY,
  cart_id TEXT NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
  sku TEXT NOT NULL,
  product_id TEXT NOT NULL,
  variant_id TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL,
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  tax_class TEXT NOT NULL,
  price_changed INTEGER NOT NULL DEFAULT 0,
  old_unit_amount INTEGER,
  available INTEGER NOT NULL DEFAULT 1,
  UNIQUE (cart_id, sku)
);
CREATE INDEX cart_lines_by_sku ON cart_lines(sku);
