-- Budgets: one row per budget (a category and a month, or every month from one on), as last
-- set. What is spent is summed from ledger_movements when asked: a month of one person's
-- movements is a short range of the page index.
CREATE TABLE ledger_budgets (
    id uuid PRIMARY KEY,
    owner uuid NOT NULL,
    category_id uuid NOT NULL,
    -- The first day of the month budgeted, or of the first month a recurring budget covers.
    month date NOT NULL,
    recurring boolean NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    alert_thresholds integer[] NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX ledger_budgets_by_owner ON ledger_budgets (owner, month);
