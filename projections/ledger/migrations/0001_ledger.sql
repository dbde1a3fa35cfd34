-- The ledger read model. Every row carries its owner and every query filters by it first,
-- so each index leads with `owner`. Rows hold only what events say (no now(), no
-- sequences), so a rebuild from position 0 writes identical tables.

CREATE TABLE ledger_accounts (
    id              UUID    PRIMARY KEY,
    owner           UUID    NOT NULL,
    name            TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    opening_balance NUMERIC NOT NULL,
    -- Opening balance plus income minus expense of the account's movements that are not voided.
    balance         NUMERIC NOT NULL,
    closed          BOOLEAN NOT NULL,
    -- The account stream's version last applied.
    version         BIGINT  NOT NULL
);

CREATE INDEX ledger_accounts_by_owner_name ON ledger_accounts (owner, name, id);

CREATE TABLE ledger_categories (
    id        UUID   PRIMARY KEY,
    owner     UUID   NOT NULL,
    name      TEXT   NOT NULL,
    parent_id UUID,
    version   BIGINT NOT NULL
);

CREATE INDEX ledger_categories_by_owner_name ON ledger_categories (owner, name, id);

CREATE TABLE ledger_movements (
    id                UUID    PRIMARY KEY,
    owner             UUID    NOT NULL,
    account_id        UUID    NOT NULL,
    direction         TEXT    NOT NULL CHECK (direction IN ('income', 'expense')),
    amount            NUMERIC NOT NULL CHECK (amount > 0),
    currency          TEXT    NOT NULL,
    occurred_on       DATE    NOT NULL,
    description       TEXT    NOT NULL,
    counterparty      TEXT,
    category_id       UUID,
    voided            BOOLEAN NOT NULL,
    -- The movement stream's version last applied.
    version           BIGINT  NOT NULL,
    -- The global position of MovementRecorded.
    recorded_position BIGINT  NOT NULL
);

-- Keyset pagination newest first: `(occurred_on, id) < (cursor)` is one range scan in
-- each of these, whatever the page's depth. One index per equality filter keeps a filtered
-- page a range scan too; date bounds narrow the same ranges.
CREATE INDEX ledger_movements_page ON ledger_movements (owner, occurred_on DESC, id DESC);
CREATE INDEX ledger_movements_page_by_account ON ledger_movements (owner, account_id, occurred_on DESC, id DESC);
CREATE INDEX ledger_movements_page_by_category ON ledger_movements (owner, category_id, occurred_on DESC, id DESC);
CREATE INDEX ledger_movements_page_by_direction ON ledger_movements (owner, direction, occurred_on DESC, id DESC);

-- Totals of the movements that are not voided, per owner, month, category, direction and
-- currency. A primary key cannot hold NULL, so uncategorised movements are kept under the
-- nil UUID (never a real id: ids are UUIDv7). A bucket whose count falls to 0 is deleted.
CREATE TABLE ledger_category_totals (
    owner        UUID    NOT NULL,
    month        DATE    NOT NULL CHECK (EXTRACT(DAY FROM month) = 1),
    category_key UUID    NOT NULL,
    direction    TEXT    NOT NULL CHECK (direction IN ('income', 'expense')),
    currency     TEXT    NOT NULL,
    total        NUMERIC NOT NULL,
    count        BIGINT  NOT NULL CHECK (count >= 0),
    PRIMARY KEY (owner, month, category_key, direction, currency)
);
