//! OCR of invoices: the engine port, the tesseract adapter, image preprocessing, PDF text layers, and the OCR worker
#![forbid(unsafe_code)]
