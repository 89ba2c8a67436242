-- The stock formula's one SQL home: every query computes available and status with these.
-- Their Python twin is domain/model.py (available_quantity, availability_status);
-- tests/integration/test_formula.py checks that the two agree over a table of cases.
-- Single-SELECT sql functions, IMMUTABLE, neither STRICT nor SECURITY DEFINER nor SET: the
-- planner inlines them, so a query plans as if the expression were written out in it.

-- What can still be held at one level: never below zero.
CREATE FUNCTION stock_available(on_hand integer, reserved integer, safety_stock integer)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT greatest(0, on_hand - reserved - safety_stock) $$;

-- A SKU's status from its available total (a sum over levels: bigint) and its threshold.
CREATE FUNCTION stock_status(available bigint, low_stock_threshold integer)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN available <= 0 THEN 'OUT_OF_STOCK'
                      WHEN available <= low_stock_threshold THEN 'LOW_STOCK'
                      ELSE 'IN_STOCK' END $$;
