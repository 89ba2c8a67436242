-- The reads of SKUs take bundles apart from plain SKUs (store/catalog.py: a plain SKU's read
-- plans as before, a bundle's figures are summed from `bundle_levels`); this index finds the
-- bundles without scanning every SKU.
CREATE INDEX skus_bundles ON skus (code) WHERE is_bundle;
