-- The delivery log's retention (ADR 0036): the dispatcher deletes settled deliveries (delivered
-- or failed) queued longer ago than CASHFLOW_DELIVERY_RETENTION_DAYS, oldest first, by this index.
CREATE INDEX IF NOT EXISTS notification_deliveries_settled ON notification_deliveries (created_at)
    WHERE status <> 'pending';
