-- Bundles (kits): a SKU that holds no stock of its own, made of plain SKUs ("components").
-- At each location a bundle's figure is the minimum over its components of
-- floor(component figure / component quantity); domain/bundles.py is the Python twin of
-- `bundle_levels` and tests/integration/test_bundle_formula.py checks that the two agree.

-- Whether a SKU is a bundle is fixed when it is created (upsertSku and upsertBundle refuse to
-- change it). The composite foreign keys below make the database refuse a bundle that is a
-- component, a component that is a bundle, and a stock level of a bundle.
ALTER TABLE skus
    ADD COLUMN is_bundle boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT skus_id_is_bundle UNIQUE (id, is_bundle);

CREATE TABLE bundle_components (
    bundle_id           bigint NOT NULL,
    bundle_is_bundle    boolean NOT NULL DEFAULT true CHECK (bundle_is_bundle),
    component_id        bigint NOT NULL,
    component_is_bundle boolean NOT NULL DEFAULT false CHECK (NOT component_is_bundle),
    quantity            integer NOT NULL CHECK (quantity >= 1),
    -- The order the components were given in, for reading them back the same way.
    position            integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (bundle_id, component_id),
    FOREIGN KEY (bundle_id, bundle_is_bundle) REFERENCES skus (id, is_bundle),
    FOREIGN KEY (component_id, component_is_bundle) REFERENCES skus (id, is_bundle)
);

CREATE INDEX bundle_components_component ON bundle_components (component_id);

ALTER TABLE stock_levels
    ADD COLUMN sku_is_bundle boolean NOT NULL DEFAULT false CHECK (NOT sku_is_bundle),
    ADD CONSTRAINT stock_levels_plain_sku FOREIGN KEY (sku_id, sku_is_bundle)
        REFERENCES skus (id, is_bundle);

-- A bundle hold is one reservation of the bundle (sku_id = the bundle, at one location) with
-- one row here per component it holds there; the component levels' `reserved` carry it. A
-- bundle has no level, so a reservation now references its SKU and location separately.
ALTER TABLE reservations
    DROP CONSTRAINT reservations_sku_id_location_id_fkey,
    ADD CONSTRAINT reservations_sku FOREIGN KEY (sku_id) REFERENCES skus (id),
    ADD CONSTRAINT reservations_location FOREIGN KEY (location_id) REFERENCES locations (id);

CREATE TABLE reservation_components (
    reservation_id uuid NOT NULL REFERENCES reservations (id),
    sku_id         bigint NOT NULL,
    location_id    bigint NOT NULL,
    -- What it holds of this component: component quantity x the bundle hold's quantity, as
    -- it was when the hold was taken (changing a bundle never changes existing holds).
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku_id),
    FOREIGN KEY (sku_id, location_id) REFERENCES stock_levels (sku_id, location_id)
);

CREATE INDEX reservation_components_level ON reservation_components (sku_id, location_id);

-- How many whole bundles `figure` units of a component make, `per_bundle` going into one.
CREATE FUNCTION bundle_fit(figure bigint, per_bundle integer)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT greatest(0, figure) / per_bundle $$;

-- A bundle's derived levels, at every location where each of its components has a level:
-- onHand, available and incoming by the minimum over the components; reserved, safety stock
-- and version 0 (the components carry those and the ledger).
CREATE VIEW bundle_levels AS
SELECT bc.bundle_id AS sku_id,
       l.location_id,
       min(bundle_fit(l.on_hand, bc.quantity))::integer AS on_hand,
       0 AS reserved,
       0 AS safety_stock,
       0 AS version,
       max(l.updated_at) AS updated_at,
       min(bundle_fit(l.incoming, bc.quantity))::integer AS incoming,
       min(bundle_fit(stock_available(l.on_hand, l.reserved, l.safety_stock), bc.quantity))::integer
           AS available
FROM bundle_components bc
JOIN stock_levels l ON l.sku_id = bc.component_id
GROUP BY bc.bundle_id, l.location_id
HAVING count(*) = (SELECT count(*) FROM bundle_components x WHERE x.bundle_id = bc.bundle_id);
