-- Orders, their lines and the history of their three statuses. The checkout saga's
-- progress is the order row itself (saga_step), so a restart resumes it.
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL,
  cart_id TEXT NOT NULL,
  status TEXT NOT NULL,
  payment_status TEXT NOT NULL,
  fulfilment_status TEXT NOT NULL,
  cancel_reason TEXT NOT NULL DEFAULT '',
  saga_step TEXT NOT NULL,
  payment_token TEXT NOT NULL DEFAULT '',
  currency TEXT NOT NULL DEFAULT '',
  subtotal INTEGER NOT NULL DEFAULT 0,
  tax INTEGER NOT NULL DEFAULT 0,
  total INTEGER NOT NULL DEFAULT 0,
  refunded INTEGER NOT NULL DEFAULT 0,
  location TEXT NOT NULL,
  payment_id TEXT,
  tracking TEXT,
  failure TEXT NOT NULL DEFAULT '',  -- the error JSON the checkout answered when it failed
  version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX orders_by_customer ON orders(customer_id, id);
CREATE INDEX orders_by_status ON orders(status, id);
CREATE INDEX orders_unfinished ON orders(saga_step) WHERE saga_step NOT IN ('done', 'failed');

CREATE TABLE order_lines (
  id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL REFERENCES orders(id),
  position INTEGER NOT NULL,
  sku TEXT NOT NULL,
  product_id TEXT NOT NULL,
  name TEXT NOT NULL,
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price INTEGER NOT NULL,
  line_total INTEGER NOT NULL,
  line_tax INTEGER NOT NULL,
  refunded_quantity INTEGER NOT NULL DEFAULT 0 CHECK (refunded_quantity BETWEEN 0 AND quantity)
) STRICT;
CREATE INDEX order_lines_by_order ON order_lines(order_id, position);

CREATE TABLE order_history (
  order_id TEXT NOT NULL REFERENCES orders(id),
  seq INTEGER NOT NULL,
  field TEXT NOT NULL,
  from_value TEXT NOT NULL,
  to_value TEXT NOT NULL,
  reason TEXT NOT NULL,
  actor TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (order_id, seq)
) STRICT;

-- The built-in fake payment provider's ledger. It stands for an outside system, so it
-- is written in its own transactions, never in the order's: what it has done survives
-- whatever the saga did next, as a real provider's would. Keyed by the order id (the
-- idempotency key a real provider is given), so an authorisation is never made twice.
CREATE TABLE fake_payments (
  id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL UNIQUE,
  amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,            -- authorized, captured, voided, declined
  captured INTEGER NOT NULL DEFAULT 0,
  captures INTEGER NOT NULL DEFAULT 0,   -- how many capture calls took money (never more than 1)
  refunded INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE fake_refunds (
  id TEXT PRIMARY KEY,             -- the caller's refund id: a retried refund is one refund
  payment_id TEXT NOT NULL REFERENCES fake_payments(id),
  amount INTEGER NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
