//! How domain values are stored in the invoices table's columns.

use cashflow_domain::invoice::InvoiceStatus;

pub(crate) fn status_text(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Uploaded => "uploaded",
        InvoiceStatus::Scanned => "scanned",
        InvoiceStatus::Failed => "failed",
    }
}

pub(crate) fn parse_status(text: &str) -> Option<InvoiceStatus> {
    match text {
        "uploaded" => Some(InvoiceStatus::Uploaded),
        "scanned" => Some(InvoiceStatus::Scanned),
        "failed" => Some(InvoiceStatus::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in [InvoiceStatus::Uploaded, InvoiceStatus::Scanned, InvoiceStatus::Failed] {
            assert_eq!(parse_status(status_text(status)), Some(status));
        }
        assert_eq!(parse_status("SCANNED"), None);
    }
}
