-- ordo_assert fails the statement (and so the transaction) with SQLSTATE
-- OR001 unless ok is true. The batch apply pipelines its writes with COMMIT,
-- so its guards (epoch, account versions) must fail inside the server: a
-- row count checked by the client would arrive after the commit.
CREATE FUNCTION ordo_assert(ok boolean, msg text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION USING ERRCODE = 'OR001', MESSAGE = msg;
    END IF;
    RETURN 1;
END
$$;
