//! Invoices read model: uploaded invoices, what OCR read from them, corrections and linked movements
#![forbid(unsafe_code)]
