//! A deployment's several logs behind one address (`warrant_store::logs`): one Merkle log per organisation or
//! business unit, each with its own key, origin, registry, tokens and reports.
//!
//! The first log answers at `/`; log `id` answers at `/logs/{id}/…` with the whole API, OTLP, the MCP gateway
//! and the console. A request without that prefix goes to the log that issued its bearer token, or the token of
//! its console session, or (for a workload JWT) the one log whose registry trusts its issuer, so an agent or a
//! person needs only the server's address and their own credential; anything else goes to the first log. A token of one log is unknown to every other: nothing crosses between logs. Each
//! log has its own state (gate, identity providers, MCP sessions, witnesses, background work); the process
//! shares only the request permits, the metrics and the console's session table.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use warrant_api::ErrorCode;
use warrant_service::ServiceError;
use warrant_store::logs::{LogId, list_logs, log_dir};
use warrant_store::{DataDirLock, Store};

use crate::error::ApiError;
use crate::{AppState, Background};

/// The further logs of the deployment whose first log is `template.store`, opened as they are first asked for
/// (all of them at once when serving).
pub struct Logs {
    /// The first log's state, without `logs`: what each further log's state is made from.
    template: AppState,
    mounted: RwLock<BTreeMap<LogId, Mounted>>,
    /// Creating or opening a log, one at a time (so two requests never open one log twice).
    opening: tokio::sync::Mutex<()>,
    /// While serving: the server's address (each log's data directory is locked with it) and the logs'
    /// background work, stopped at shutdown.
    serving: Mutex<Option<(String, Vec<Background>)>>,
}

#[derive(Clone)]
pub struct Mounted {
    pub state: AppState,
    router: Router,
    /// While serving, the log's data directory is claimed as the first log's is.
    _lock: Option<Arc<DataDirLock>>,
}

impl Logs {
    pub fn new(template: &AppState) -> Arc<Logs> {
        let mut template = template.clone();
        template.logs = None;
        Arc::new(Logs {
            template,
            mounted: RwLock::default(),
            opening: tokio::sync::Mutex::new(()),
            serving: Mutex::new(None),
        })
    }

    fn mounted(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<LogId, Mounted>> {
        self.mounted
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Log `id`, opening it if it exists and is not open yet.
    pub async fn get(&self, id: &LogId) -> Result<Option<Mounted>, ServiceError> {
        if let Some(mounted) = self.mounted().get(id) {
            return Ok(Some(mounted.clone()));
        }
        let _opening = self.opening.lock().await;
        if let Some(mounted) = self.mounted().get(id) {
            return Ok(Some(mounted.clone()));
        }
        let dir = log_dir(self.template.store.dir(), id);
        if !warrant_store::holds_log(&dir) {
            return Ok(None);
        }
        let store = warrant_service::blocking(move || {
            Store::open(&dir, &warrant_store::StoreConfig::default()).map_err(ServiceError::from)
        })
        .await?;
        self.mount(id.clone(), store).map(Some)
    }

    /// Every log of the deployment but the first, opened.
    pub async fn all(&self) -> Result<Vec<(LogId, Mounted)>, ServiceError> {
        let root = self.template.store.dir().to_owned();
        let ids = warrant_service::blocking(move || list_logs(&root).map_err(ServiceError::from)).await?;
        let mut logs = Vec::with_capacity(ids.len());
        for (id, _) in ids {
            if let Some(mounted) = self.get(&id).await? {
                logs.push((id, mounted));
            }
        }
        Ok(logs)
    }

    /// Create log `id` for `org` and mount it.
    pub async fn create(&self, id: LogId, org: String) -> Result<Mounted, ServiceError> {
        let _opening = self.opening.lock().await;
        let first = self.template.store.clone();
        let created = id.clone();
        let store =
            warrant_service::blocking(move || warrant_service::logs::create(&first, &created, &org)).await?;
        self.mount(id, store)
    }

    /// Put an open log behind its path; while serving, claim its directory and start its background work.
    fn mount(&self, id: LogId, store: Store) -> Result<Mounted, ServiceError> {
        let mut state = AppState::new(store, self.template.config.clone());
        state.metrics = self.template.metrics.clone();
        state.in_flight = self.template.in_flight.clone();
        state.console = self.template.console.clone();
        let mut serving = self
            .serving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lock = match serving.as_mut() {
            Some((url, background)) => {
                let lock = DataDirLock::acquire(state.store.dir(), url).map_err(|error| {
                    ServiceError::new(
                        warrant_service::Failure::Unavailable,
                        ErrorCode::Unavailable,
                        error.to_string(),
                    )
                })?;
                let warming = state.clone();
                tokio::spawn(async move { crate::warm_up(&warming).await });
                background.push(crate::start_background(&state));
                Some(Arc::new(lock))
            }
            None => None,
        };
        let mounted = Mounted {
            router: crate::router(state.clone()),
            state,
            _lock: lock,
        };
        self.mounted
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, mounted.clone());
        Ok(mounted)
    }

    /// Start serving: open every log, claim its directory for the server at `url` and start its background
    /// work. Logs created or found later are served the same way as they are mounted.
    pub(crate) async fn serve(&self, url: String) -> Result<(), ServiceError> {
        // Called before the first request is taken, so no log is mounted yet: each is mounted now, serving.
        *self
            .serving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((url, Vec::new()));
        self.all().await.map(|_| ())
    }

    /// Stop every log's background work, each signing its last checkpoint.
    pub(crate) async fn stop(&self) {
        let background = self
            .serving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .map(|(_, background)| background)
            .unwrap_or_default();
        for running in background {
            running.stop().await;
        }
    }

    /// The open further log whose registry has an identity provider for `issuer`, when no other log's has
    /// one (the first log's included): a provider two logs share cannot say which log a JWT is for, and its
    /// agents name their log by its path. The JWT itself is verified by that log, as any other.
    fn trusting(&self, issuer: &str) -> Option<Mounted> {
        let trusts = |registry: &warrant_core::registry::Registry| {
            registry
                .list(warrant_core::registry::manifest::Kind::IdentityProvider)
                .any(|manifest| {
                    matches!(manifest, warrant_core::registry::manifest::Manifest::IdentityProvider(provider)
                        if provider.issuer == issuer)
                })
        };
        if trusts(&self.template.store.registry()) {
            return None;
        }
        let mounted = self.mounted();
        let mut trusting = mounted.values().filter(|log| trusts(&log.state.store.registry()));
        match (trusting.next(), trusting.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// The open log whose tokens include `secret`.
    fn issuer_of(&self, secret: &str) -> Option<Mounted> {
        self.mounted()
            .values()
            .find(|mounted| mounted.state.store.knows_token(secret))
            .cloned()
    }
}

/// The deployment's router: each request goes to the log it is for, and is routed there from scratch (a
/// layer on the first log's router would run after its routing, with that router's path parameters).
pub(crate) fn deployment_router(logs: Arc<Logs>, first: Router) -> Router {
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let (logs, first) = (logs.clone(), first.clone());
        async move { Ok::<_, std::convert::Infallible>(dispatch(&logs, first, request).await) }
    }))
}

async fn dispatch(logs: &Logs, first: Router, request: Request) -> Response {
    if let Some(rest) = request.uri().path().strip_prefix("/logs/") {
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let (id, tail) = (id.to_owned(), tail.to_owned());
        let mounted = match LogId::parse(&id) {
            Ok(id) => logs.get(&id).await,
            Err(_) => Ok(None),
        };
        return match mounted {
            Ok(Some(mounted)) => forward(&mounted, strip(request, &tail)).await,
            Ok(None) => ApiError::not_found(format!("no log `{id}` in this deployment")).into_response(),
            Err(error) => ApiError::from(error).into_response(),
        };
    }
    let mounted = match bearer(&request) {
        Some(Bearer::Jwt(issuer)) => logs.trusting(&issuer),
        Some(Bearer::Token(secret)) => logs.issuer_of(&secret),
        None => logs
            .template
            .console
            .secret_of(request.headers())
            .and_then(|secret| logs.issuer_of(&secret)),
    };
    if let Some(mounted) = mounted {
        return forward(&mounted, request).await;
    }
    // Signing in to the console: the token is in the form, and says which log the session is for.
    if request.method() == Method::POST && request.uri().path() == "/login" {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "a sign-in form is smaller than that",
            )
            .into_response();
        };
        let token = form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "token")
            .map(|(_, value)| value.trim().to_owned());
        let request = Request::from_parts(parts, Body::from(bytes));
        if let Some(mounted) = token.and_then(|token| logs.issuer_of(&token)) {
            return forward(&mounted, request).await;
        }
        return route(first, request).await;
    }
    route(first, request).await
}

async fn forward(mounted: &Mounted, request: Request) -> Response {
    route(mounted.router.clone(), request).await
}

async fn route(router: Router, request: Request) -> Response {
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

/// The request with its path made `/{tail}` (the query kept).
fn strip(mut request: Request, tail: &str) -> Request {
    let path_and_query = match request.uri().query() {
        Some(query) => format!("/{tail}?{query}"),
        None => format!("/{tail}"),
    };
    if let Ok(uri) = path_and_query.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

enum Bearer {
    /// A warrant token: the log that issued it.
    Token(String),
    /// A workload JWT, by the issuer it claims: the log whose registry alone trusts that issuer.
    Jwt(String),
}

fn bearer(request: &Request) -> Option<Bearer> {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    if crate::identity::looks_like_jwt(token) {
        crate::identity::claimed_issuer(token).map(Bearer::Jwt)
    } else {
        Some(Bearer::Token(token.to_owned()))
    }
}
