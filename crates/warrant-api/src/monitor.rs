//! `/v1/monitor/*`, `/v1/alerts`, `/v1/incidents`: monitoring reports, alerts and incidents.
