-- Words in angle brackets (ADR 0031). PostgreSQL's default parser reads `<cake>` or `<b>` as an
-- XML tag and indexes nothing of it, so "Tea & <cake>" held no 'cake'. Every text of a person's
-- goes through translate(…, '<>', '  ') before to_tsvector: the brackets become spaces, and the
-- words between them are words. SearchText cuts a query at them too (src/text.rs).

-- PostgreSQL 15 cannot change a generated column's expression (SET EXPRESSION is 17's), so the
-- column is dropped and added again: the ADD rewrites the table, under an ACCESS EXCLUSIVE lock,
-- and recomputes every document (ADR 0031 has the time it takes). No index or view depends on
-- the column; it stays the table's last.
ALTER TABLE search_documents DROP COLUMN document;
ALTER TABLE search_documents ADD COLUMN document tsvector GENERATED ALWAYS AS (
    -- A: what the person wrote; B: the names it is filed under; D: the receipt's whole text.
    setweight(to_tsvector('cashflow_words'::regconfig,
                          translate(description || ' ' || coalesce(counterparty, ''), '<>', '  ')), 'A')
    || setweight(to_tsvector('cashflow_words'::regconfig,
                             translate(coalesce(category_name, '') || ' ' || coalesce(merchant, ''), '<>', '  ')), 'B')
    || setweight(to_tsvector('cashflow_words'::regconfig, translate(coalesce(invoice_text, ''), '<>', '  ')), 'D')
) STORED;

-- The vocabulary learns category names as the documents are now read.
CREATE OR REPLACE FUNCTION search_learn_words() RETURNS trigger LANGUAGE plpgsql AS $$
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
                   unnest(tsvector_to_array(to_tsvector('cashflow_words'::regconfig,
                                                        translate(c.name, '<>', '  ')))) AS w(word)) AS fresh
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- The rewrite fires no trigger: the vocabulary learns here the words that were in brackets, from
-- the documents and category names that hold a bracket (a category's former names are gone; a
-- rename learns the new one). Words already known are left to ON CONFLICT, as the trigger does.
INSERT INTO search_words (owner, word, stem_en, stem_es)
SELECT fresh.owner, fresh.word,
       (ts_lexize('english_stem', fresh.word))[1], (ts_lexize('spanish_stem', fresh.word))[1]
FROM (SELECT DISTINCT d.owner, w.word
      FROM search_documents AS d, unnest(tsvector_to_array(d.document)) AS w(word)
      WHERE d.description ~ '[<>]' OR d.counterparty ~ '[<>]' OR d.category_name ~ '[<>]'
            OR d.merchant ~ '[<>]' OR d.invoice_text ~ '[<>]'
      UNION
      SELECT c.owner, w.word
      FROM search_categories AS c,
           unnest(tsvector_to_array(to_tsvector('cashflow_words'::regconfig, translate(c.name, '<>', '  ')))) AS w(word)
      WHERE c.name ~ '[<>]') AS fresh
ON CONFLICT DO NOTHING;
