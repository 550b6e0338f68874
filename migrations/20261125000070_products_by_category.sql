-- Browsing a category (the catalog's most common listing) reads its newest products straight
-- from this index instead of filtering the whole catalog's newest-first index.
CREATE INDEX products_category_newest_idx ON products (category, created_at DESC, id DESC)
    WHERE NOT withdrawn;
