//! `/v1/compliance/*`, `/v1/documents`, `/v1/audits`, `/v1/nonconformities`: the ISO/IEC 42001 and EU AI Act
//! engine's answers.
