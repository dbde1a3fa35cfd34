-- The invoices read model: one row per uploaded invoice. Every query filters by `owner`
-- first, so each index leads with it. Rows hold only what events say (`uploaded_at` is the
-- upload event's recorded_at, never now()), so a rebuild from position 0 writes identical rows.
--
-- The machine's reading and the person's corrections are kept apart: `merchant`, `issued_on`
-- and `total` are what OCR read, `corrected_*` what the person said instead; the effective
-- value is the correction where there is one. Money and confidences (0 to 1) are NUMERIC.

CREATE TABLE invoices (
    id                  UUID        PRIMARY KEY,
    owner               UUID        NOT NULL,
    status              TEXT        NOT NULL CHECK (status IN ('uploaded', 'scanned', 'failed')),
    filename            TEXT        NOT NULL,
    -- The media type sniffed from the bytes, e.g. image/jpeg.
    content_type        TEXT        NOT NULL,
    size_bytes          BIGINT      NOT NULL CHECK (size_bytes >= 0),
    -- Lower-case hex SHA-256 of the file.
    sha256              TEXT        NOT NULL,
    blob_key            TEXT        NOT NULL,
    -- The account a movement from this invoice goes to, if the person named one.
    account_id          UUID,

    -- The latest InvoiceScanned; all NULL before it. Each value comes with its confidence.
    merchant            TEXT,
    merchant_confidence NUMERIC,
    issued_on           DATE,
    date_confidence     NUMERIC,
    total               NUMERIC,
    total_confidence    NUMERIC,
    tax                 NUMERIC,
    tax_confidence      NUMERIC,
    currency            TEXT,
    currency_confidence NUMERIC,
    raw_text            TEXT,

    -- The person's corrections (InvoiceCorrected), each the latest given for its field.
    corrected_merchant  TEXT,
    corrected_issued_on DATE,
    corrected_total     NUMERIC,

    failure_reason      TEXT,
    movement_id         UUID,
    uploaded_at         TIMESTAMPTZ NOT NULL,
    -- The invoice stream's version last applied.
    version             BIGINT      NOT NULL,
    -- The global position of InvoiceUploaded.
    uploaded_position   BIGINT      NOT NULL,

    CHECK ((merchant IS NULL) = (merchant_confidence IS NULL)),
    CHECK ((issued_on IS NULL) = (date_confidence IS NULL)),
    CHECK ((total IS NULL) = (total_confidence IS NULL)),
    CHECK ((tax IS NULL) = (tax_confidence IS NULL)),
    CHECK ((currency IS NULL) = (currency_confidence IS NULL))
);

-- Keyset pagination newest first: `(uploaded_at, id) < (cursor)` is one range scan at any depth.
CREATE INDEX invoices_page ON invoices (owner, uploaded_at DESC, id DESC);

-- The same file uploaded again by the same person, found by its digest.
CREATE INDEX invoices_by_sha256 ON invoices (owner, sha256, uploaded_position);
