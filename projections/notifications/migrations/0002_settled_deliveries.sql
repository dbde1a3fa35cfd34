-- The delivery log's retention (ADR 0036): the dispatcher deletes settled deliveries (delivered
-- or failed) queued longer ago than CASHFLOW_DELIVERY_RETENTION_DAYS, oldest first, by this index.
-- Built CONCURRENTLY, outside a transaction, so deliveries go on being queued and settled while a
-- large log is indexed. (0001's "removed channels stay, so their delivery log does" now holds for
-- the retention period.)
CREATE INDEX CONCURRENTLY IF NOT EXISTS notification_deliveries_settled ON notification_deliveries (created_at)
    WHERE status <> 'pending';
