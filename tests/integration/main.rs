//! Integration tests: drive the real `husky` binary.
