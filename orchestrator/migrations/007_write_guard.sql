-- The batch writer's saga upsert never moves a saga back: a row is only rewritten by a version at
-- least as new as the stored one, and a batch whose rows were not all written fails as a whole
-- instead of losing one in silence (a placed order whose id is a settled saga's, or a write of a
-- writer whose shard moved on). The writer then decides its inputs one by one.
CREATE OR REPLACE FUNCTION saga_rows_written(expected integer, written bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
        IF written <> expected THEN
                RAISE EXCEPTION 'saga rows not written: % of % (an order id taken, or an older version)',
                        written, expected;
        END IF;
        RETURN written;
END
$$;
