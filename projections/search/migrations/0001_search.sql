-- The search view (ADR 0018): one document per movement, what a person may remember of it, in a
-- tsvector kept by PostgreSQL itself; the categories and invoices whose words documents carry;
-- and each person's vocabulary, which turns a typo or a stem into the words they really wrote.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- GIN over (owner, word): a person's vocabulary searched by trigrams.
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Words as written, lower-cased and without accents ("Café" is 'cafe'), never stemmed: stems and
-- typos are resolved against the vocabulary at query time, so one vector serves both languages.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'cashflow_words') THEN
        CREATE TEXT SEARCH CONFIGURATION cashflow_words (COPY = pg_catalog.simple);
        ALTER TEXT SEARCH CONFIGURATION cashflow_words
            ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
            WITH unaccent, simple;
    END IF;
END
$$;

CREATE TABLE search_categories (
    id uuid PRIMARY KEY,
    owner uuid NOT NULL,
    name text NOT NULL,
    version bigint NOT NULL
);

-- What OCR read from an invoice (or the person corrected), and the movement it was linked to.
CREATE TABLE search_invoices (
    id uuid PRIMARY KEY,
    owner uuid NOT NULL,
    merchant text,
    raw_text text NOT NULL DEFAULT '',
    movement_id uuid,
    version bigint NOT NULL
);
CREATE INDEX search_invoices_movement ON search_invoices (movement_id) WHERE movement_id IS NOT NULL;

CREATE TABLE search_documents (
    movement_id uuid PRIMARY KEY,
    owner uuid NOT NULL,
    account_id uuid NOT NULL,
    direction text NOT NULL CHECK (direction IN ('income', 'expense')),
    amount numeric NOT NULL,
    currency text NOT NULL,
    occurred_on date NOT NULL,
    description text NOT NULL,
    counterparty text,
    category_id uuid,
    category_name text,
    voided boolean NOT NULL DEFAULT false,
    -- The movement stream's version.
    version bigint NOT NULL,
    invoice_id uuid,
    merchant text,
    invoice_text text,
    -- A: what the person wrote; B: the names it is filed under; D: the receipt's whole text.
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('cashflow_words'::regconfig,
                              description || ' ' || coalesce(counterparty, '')), 'A')
        || setweight(to_tsvector('cashflow_words'::regconfig,
                                 coalesce(category_name, '') || ' ' || coalesce(merchant, '')), 'B')
        || setweight(to_tsvector('cashflow_words'::regconfig, coalesce(invoice_text, '')), 'D')
    ) STORED
);
-- A search reads one person's documents through this index and matches each vector in turn: at
-- a few thousand documents a person that beats a GIN index over everyone's words, whose posting
-- lists grow with the number of people (ADR 0018 has the figures). It also lists, newest first,
-- what the filters of an empty query select.
CREATE INDEX search_documents_newest ON search_documents (owner, occurred_on DESC, movement_id DESC);
CREATE INDEX search_documents_category ON search_documents (category_id) WHERE category_id IS NOT NULL;

-- Every word each person's documents hold, with its English and Spanish stems: a query word is
-- widened to the words sharing its stem, and (five letters or more) to those one typo away.
CREATE TABLE search_words (
    owner uuid NOT NULL,
    word text NOT NULL,
    stem_en text,
    stem_es text,
    PRIMARY KEY (owner, word)
);
CREATE INDEX search_words_typos ON search_words USING gin (owner, word gin_trgm_ops);
CREATE INDEX search_words_stem_en ON search_words (owner, stem_en);
CREATE INDEX search_words_stem_es ON search_words (owner, stem_es);

-- Learns the words a statement wrote, once per statement: of documents, and of category names
-- (every name a category ever had, so the vocabulary does not depend on how events were batched,
-- and a rebuild learns what the live view learned). Words are never forgotten: one that no
-- document holds any more widens a query to a word that matches nothing. Known words are left to
-- ON CONFLICT: an anti-join against the vocabulary, planned without statistics of the transition
-- table, cost five times more at a million documents.
CREATE FUNCTION search_learn_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'search_documents' THEN
        INSERT INTO search_words (owner, word, stem_en, stem_es)
        SELECT fresh.owner, fresh.word,
               (ts_lexize('english_stem', fresh.word))[1], (ts_lexize('spanish_stem', fresh.word))[1]
        FROM (SELECT DISTINCT d.owner, w.word
              FROM written AS d, unnest(tsvector_to_array(d.document)) AS w(word)) AS fresh
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO search_words (owner, word, stem_en, stem_es)
        SELECT fresh.owner, fresh.word,
               (ts_lexize('english_stem', fresh.word))[1], (ts_lexize('spanish_stem', fresh.word))[1]
        FROM (SELECT DISTINCT c.owner, w.word
              FROM written AS c,
                   unnest(tsvector_to_array(to_tsvector('cashflow_words'::regconfig, c.name))) AS w(word)) AS fresh
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER search_documents_inserted AFTER INSERT ON search_documents
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION search_learn_words();
CREATE TRIGGER search_documents_updated AFTER UPDATE ON search_documents
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION search_learn_words();
CREATE TRIGGER search_categories_inserted AFTER INSERT ON search_categories
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION search_learn_words();
CREATE TRIGGER search_categories_updated AFTER UPDATE ON search_categories
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION search_learn_words();
