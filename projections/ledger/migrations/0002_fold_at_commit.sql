-- Balances and monthly totals are folded once per transaction, at its commit.
--
-- Updating an account's row once per movement makes a transaction that applies n movements
-- of one account cost O(n²): each update walks every version of the row that the same
-- transaction already wrote, and none can be pruned before it commits. A rebuild replays the
-- whole store in one transaction, so it would take hours at a million movements. Instead,
-- `apply` appends each change to the pending tables below, and a deferred constraint trigger
-- folds them, summed per account and per bucket, when the transaction commits. Outside a
-- transaction in progress the pending tables are empty.
--
-- Folded sums are stored with trim_scale, so the tables do not depend on how events were
-- split into transactions (a bucket emptied and refilled within one transaction would
-- otherwise keep the scale of what left it), and a rebuild stays identical to the live model.

CREATE TABLE ledger_pending_balances (
    account_id UUID    NOT NULL,
    owner      UUID    NOT NULL,
    amount     NUMERIC NOT NULL
);

CREATE TABLE ledger_pending_totals (
    owner        UUID    NOT NULL,
    month        DATE    NOT NULL,
    category_key UUID    NOT NULL,
    direction    TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    total        NUMERIC NOT NULL,
    count        BIGINT  NOT NULL
);

-- One row per transaction that has something pending: its insert queues the fold.
CREATE TABLE ledger_fold_requests (
    tx xid8 PRIMARY KEY
);

-- A net decrement is written as an upsert of a negative row, which a CHECK would refuse
-- before the conflict is seen; the fold checks for negative counts itself.
ALTER TABLE ledger_category_totals DROP CONSTRAINT ledger_category_totals_count_check;

CREATE FUNCTION ledger_fold_pending() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    negative bigint;
BEGIN
    UPDATE ledger_accounts AS a
    SET balance = trim_scale(a.balance + p.amount)
    FROM (
        SELECT account_id, owner, sum(amount) AS amount FROM ledger_pending_balances GROUP BY account_id, owner
    ) AS p
    WHERE a.id = p.account_id AND a.owner = p.owner;

    WITH folded AS (
        INSERT INTO ledger_category_totals AS t (owner, month, category_key, direction, currency, total, count)
        SELECT owner, month, category_key, direction, currency, trim_scale(sum(total)), sum(count)::bigint
        FROM ledger_pending_totals
        GROUP BY owner, month, category_key, direction, currency
        ON CONFLICT (owner, month, category_key, direction, currency)
        DO UPDATE SET total = trim_scale(t.total + EXCLUDED.total), count = t.count + EXCLUDED.count
        RETURNING t.count AS remaining
    )
    SELECT count(*) INTO negative FROM folded WHERE remaining < 0;
    IF negative > 0 THEN
        RAISE EXCEPTION 'ledger category totals diverged: % total(s) would count fewer than no movements', negative
            USING ERRCODE = 'data_exception';
    END IF;
    -- A bucket whose movements all left it is deleted, as if it had never been filled.
    DELETE FROM ledger_category_totals AS t
    USING (SELECT DISTINCT owner, month, category_key, direction, currency FROM ledger_pending_totals) AS p
    WHERE t.count = 0 AND t.owner = p.owner AND t.month = p.month AND t.category_key = p.category_key
      AND t.direction = p.direction AND t.currency = p.currency;

    DELETE FROM ledger_pending_balances;
    DELETE FROM ledger_pending_totals;
    DELETE FROM ledger_fold_requests;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER ledger_fold_at_commit
    AFTER INSERT ON ledger_fold_requests
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_fold_pending();
