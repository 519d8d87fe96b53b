-- Full-text search over products. products is a WITHOUT ROWID table, and an FTS5 index
-- keys its documents by integer, so product_search_docs gives each product a document
-- number; the index reads its text through product_search_content (external content:
-- the text is stored once, in products). The triggers keep the index in step with every
-- write to products, in the writer's transaction; 'delete' is given the old values, which
-- external-content FTS5 needs to remove exactly the terms it indexed.
CREATE TABLE product_search_docs (
  doc        INTEGER PRIMARY KEY,
  product_id TEXT NOT NULL UNIQUE
);

CREATE VIEW product_search_content AS
  SELECT d.doc AS doc, p.name AS name, p.sku AS sku, p.description AS description
  FROM product_search_docs d JOIN products p ON p.id = d.product_id;

-- remove_diacritics 2: "creme" finds "Crème"; prefix '2 3' makes short prefix queries
-- ("bl*", "blu*") read one prefix entry rather than every matching term.
CREATE VIRTUAL TABLE product_search USING fts5(
  name, sku, description,
  content = 'product_search_content',
  content_rowid = 'doc',
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '2 3'
);

CREATE TRIGGER product_search_insert AFTER INSERT ON products BEGIN
  INSERT INTO product_search_docs(product_id) VALUES (new.id);
  INSERT INTO product_search(rowid, name, sku, description)
    VALUES ((SELECT doc FROM product_search_docs WHERE product_id = new.id), new.name, new.sku, new.description);
END;

CREATE TRIGGER product_search_update AFTER UPDATE OF name, sku, description ON products
  WHEN old.name IS NOT new.name OR old.sku IS NOT new.sku OR old.description IS NOT new.description
BEGIN
  INSERT INTO product_search(product_search, rowid, name, sku, description)
    VALUES ('delete', (SELECT doc FROM product_search_docs WHERE product_id = old.id), old.name, old.sku,
            old.description);
  INSERT INTO product_search(rowid, name, sku, description)
    VALUES ((SELECT doc FROM product_search_docs WHERE product_id = new.id), new.name, new.sku, new.description);
END;

CREATE TRIGGER product_search_delete AFTER DELETE ON products BEGIN
  INSERT INTO product_search(product_search, rowid, name, sku, description)
    VALUES ('delete', (SELECT doc FROM product_search_docs WHERE product_id = old.id), old.name, old.sku,
            old.description);
  DELETE FROM product_search_docs WHERE product_id = old.id;
END;

-- Products written before this migration.
INSERT INTO product_search_docs(product_id) SELECT id FROM products ORDER BY id;
INSERT INTO product_search(product_search) VALUES ('rebuild');
