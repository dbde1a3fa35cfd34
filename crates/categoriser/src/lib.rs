//! Rule categorisation: the worker that assigns categories to new movements matching a person's rules
#![forbid(unsafe_code)]
