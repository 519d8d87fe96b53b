-- Variants: every product has one or more, exactly one of them its default. The
-- product's sku and price columns stay, always equal to its default variant's (the
-- service writes both in one transaction), so search and old readers keep working.
ALTER TABLE products ADD COLUMN tax_class TEXT NOT NULL DEFAULT 'standard'
  CHECK (tax_class IN ('standard', 'reduced', 'zero'));

CREATE TABLE variants (
  id             TEXT PRIMARY KEY,
  product_id     TEXT NOT NULL,
  sku            TEXT NOT NULL UNIQUE,
  barcode        TEXT UNIQUE,  -- EAN-13 digits (a UPC-A is stored as '0' || its digits)
  name           TEXT NOT NULL DEFAULT '',
  price_amount   INTEGER NOT NULL CHECK (price_amount >= 0),
  price_currency TEXT NOT NULL,
  is_default     INTEGER NOT NULL CHECK (is_default IN (0, 1)),
  version        INTEGER NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX variants_by_product ON variants(product_id, is_default DESC, id);
CREATE UNIQUE INDEX variants_one_default ON variants(product_id) WHERE is_default = 1;
CREATE INDEX variants_by_price ON variants(price_currency, price_amount, product_id);

-- Every product written before this migration becomes one default variant, with the
-- product's sku and price; its id is the product's with the var_ prefix.
INSERT INTO variants(id, product_id, sku, barcode, name, price_amount, price_currency, is_default, version,
                     created_at, updated_at)
  SELECT 'var_' || substr(id, 6), id, sku, NULL, '', price_amount, price_currency, 1, 1, created_at, updated_at
  FROM products;

-- The copy of inventory's stock levels (topic inventory.stock), for the in-stock filter.
-- updated_at is the time of the event that wrote the row; an older event never
-- overwrites a newer one.
CREATE TABLE stock_levels (
  sku        TEXT NOT NULL,
  location   TEXT NOT NULL,
  available  INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (sku, location)
) WITHOUT ROWID;

CREATE INDEX stock_levels_available ON stock_levels(sku) WHERE available > 0;
