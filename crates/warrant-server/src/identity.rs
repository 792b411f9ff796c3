//! Workload identity: an agent presents a JWT signed by the organisation's identity provider (a Kubernetes
//! service-account token, a SPIFFE JWT-SVID, an OIDC client credential) instead of a warrant token, so no
//! shared secret has to be handed out. `kind: IdentityProvider` manifests say whose tokens count.
//!
//! A JWT is accepted when: its issuer is a registered provider's; its signature verifies with one of that
//! provider's keys (asymmetric algorithms only: an HMAC secret would be a shared secret again); `aud` holds
//! the provider's audience; it has not expired; and its agent claim names a registered agent. It then acts
//! as an agent principal bound to exactly that agent.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use warrant_core::identity::{Principal, PrincipalKind};
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::{IdentityProvider, Kind, Manifest};
use warrant_core::role::Role;

/// Why a JWT was not accepted. The message goes to the caller in a 401.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("a JWT was presented, but no identity provider is registered")]
    NoProvider,
    #[error("the JWT is malformed: {0}")]
    Malformed(String),
    #[error("no registered identity provider has issuer `{0}`")]
    UnknownIssuer(String),
    #[error("JWTs signed with {0:?} are not accepted; identity providers sign with a private key")]
    Algorithm(Algorithm),
    #[error("identity provider `{provider}` has no usable key{kid}: {detail}")]
    NoKey {
        provider: String,
        kid: String,
        detail: String,
    },
    #[error("the JWT does not verify for identity provider `{provider}`: {detail}")]
    Invalid { provider: String, detail: String },
    #[error("the JWT's claim `{0}` names no agent")]
    NoAgentClaim(String),
    #[error("the JWT names agent `{0}`, which is not in the registry")]
    UnknownAgent(String),
}

const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A key set is fetched again from its URL at most this often (a key id it does not know triggers it).
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// The providers' key sets, loaded once per registry version.
#[derive(Default)]
pub struct Providers {
    loaded: Mutex<Option<Snapshot>>,
}

/// The providers as loaded for one registry version.
type Snapshot = (Arc<Registry>, Arc<Vec<Loaded>>);

struct Loaded {
    manifest: IdentityProvider,
    keys: Result<JwkSet, String>,
    fetched: Instant,
}

/// A bearer credential shaped like a JWT (three base64url parts); warrant tokens start with `wrt_`.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

/// The `iss` a JWT claims, unverified: only which log's providers should verify it (logs.rs).
pub fn claimed_issuer(token: &str) -> Option<String> {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

impl Providers {
    /// Verify `token` against the registry's identity providers. Reads key files and fetches key URLs when
    /// the registry changed: call it off the async workers.
    pub fn verify(&self, registry: &Arc<Registry>, token: &str) -> Result<Principal, JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|error| JwtError::Malformed(error.to_string()))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(JwtError::Algorithm(header.alg));
        }
        // The issuer picks the keys; nothing else is trusted before the signature verifies.
        let unverified: Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|error| JwtError::Malformed(error.to_string()))?;
        let issuer = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| JwtError::Malformed("no `iss` claim".into()))?;
        let providers = self.load(registry, false);
        if providers.is_empty() {
            return Err(JwtError::NoProvider);
        }
        let mut provider = providers
            .iter()
            .find(|loaded| loaded.manifest.issuer == issuer)
            .ok_or_else(|| JwtError::UnknownIssuer(issuer.to_owned()))?;
        let mut key = select_key(provider, header.kid.as_deref());
        let refreshed;
        if key.is_err() && provider.manifest.jwks_url.is_some() && provider.fetched.elapsed() >= REFETCH_AFTER
        {
            // A rotated key: fetch the set again (rate-limited) and look once more.
            refreshed = self.load(registry, true);
            if let Some(again) = refreshed.iter().find(|loaded| loaded.manifest.issuer == issuer) {
                provider = again;
                key = select_key(provider, header.kid.as_deref());
            }
        }
        let key = key?;
        let manifest = &provider.manifest;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&manifest.issuer]);
        validation.set_audience(&[&manifest.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|error| JwtError::Invalid {
                provider: manifest.id.clone(),
                detail: error.to_string(),
            })?
            .claims;
        let named = claims
            .get(&manifest.agent_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| JwtError::NoAgentClaim(manifest.agent_claim.clone()))?;
        let agent = named.strip_prefix(&manifest.agent_prefix).unwrap_or(named);
        if registry.agent(agent).is_none() {
            return Err(JwtError::UnknownAgent(agent.to_owned()));
        }
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or(named);
        let expires = claims
            .get("exp")
            .and_then(Value::as_i64)
            .and_then(|exp| DateTime::<Utc>::from_timestamp(exp, 0));
        Ok(Principal {
            id: format!("jwt:{}#{subject}", manifest.issuer),
            kind: PrincipalKind::Jwt,
            name: subject.to_owned(),
            role: Role::Agent,
            agents: BTreeSet::from([agent.to_owned()]),
            person: format!("jwt:{}#{subject}", manifest.issuer),
            expires,
        })
    }

    /// The providers of `registry` with their keys; reloaded when the registry changed or `refresh` is set.
    fn load(&self, registry: &Arc<Registry>, refresh: bool) -> Arc<Vec<Loaded>> {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((seen, providers)) = loaded.as_ref()
            && Arc::ptr_eq(seen, registry)
            && !refresh
        {
            return providers.clone();
        }
        let providers: Vec<Loaded> = registry
            .list(Kind::IdentityProvider)
            .filter_map(|manifest| match manifest {
                Manifest::IdentityProvider(provider) => Some(Loaded {
                    keys: read_keys(provider),
                    manifest: provider.clone(),
                    fetched: Instant::now(),
                }),
                _ => None,
            })
            .collect();
        for provider in &providers {
            if let Err(error) = &provider.keys {
                tracing::warn!(provider = %provider.manifest.id, %error, "identity provider keys not loaded");
            }
        }
        let providers = Arc::new(providers);
        *loaded = Some((registry.clone(), providers.clone()));
        providers
    }
}

fn read_keys(provider: &IdentityProvider) -> Result<JwkSet, String> {
    let text = match (&provider.jwks_file, &provider.jwks_url) {
        (Some(path), _) => {
            std::fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?
        }
        (None, Some(url)) => ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build()
            .get(url)
            .call()
            .map_err(|error| format!("cannot fetch {url}: {error}"))?
            .into_string()
            .map_err(|error| format!("cannot read {url}: {error}"))?,
        (None, None) => return Err("no jwks_file or jwks_url".into()),
    };
    serde_json::from_str(&text).map_err(|error| format!("not a JWKS document: {error}"))
}

/// The key for `kid`, or the only key when the token names none.
fn select_key(provider: &Loaded, kid: Option<&str>) -> Result<DecodingKey, JwtError> {
    let no_key = |detail: String| JwtError::NoKey {
        provider: provider.manifest.id.clone(),
        kid: kid.map(|kid| format!(" `{kid}`")).unwrap_or_default(),
        detail,
    };
    let keys = provider.keys.as_ref().map_err(|error| no_key(error.clone()))?;
    let jwk = match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| no_key("not in its key set".into()))?;
    DecodingKey::from_jwk(jwk).map_err(|error| no_key(error.to_string()))
}
