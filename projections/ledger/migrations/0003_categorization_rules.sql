-- A person's categorisation rules, as the category stream added them. `rule` is the domain
-- `Rule` serialized as JSON (criteria, priority, category), read back whole by the
-- categoriser; the columns beside it are what queries filter and sort on. Rules are only
-- ever added, so a row is written once and never updated.
CREATE TABLE ledger_categorization_rules (
    rule_id        UUID    PRIMARY KEY,
    owner          UUID    NOT NULL,
    category_id    UUID    NOT NULL,
    priority       INTEGER NOT NULL,
    rule           JSONB   NOT NULL,
    -- The global position of CategorizationRuleAdded.
    added_position BIGINT  NOT NULL,
    -- The category stream's version at CategorizationRuleAdded.
    version        BIGINT  NOT NULL
);

-- In the order rules are tried: highest priority first, then the oldest (ids are UUIDv7).
CREATE INDEX ledger_categorization_rules_by_owner ON ledger_categorization_rules (owner, priority DESC, rule_id);

-- Applying rules to past movements walks one owner's movements newest first on the page index
-- (ledger_movements_page), so rebuilds pay for no index of their own.
