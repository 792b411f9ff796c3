//! `/v1/risk/*` and `/v1/impact/*`: risk findings, the register, impact assessments.
