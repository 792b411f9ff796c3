//! The web console: server-rendered pages for approvers, compliance teams and auditors, at `/`.
//!
//! Each page, like each API handler, authorizes against the one role table (`Role::may` for the page's
//! `Action`), calls `warrant-service` and renders; nothing here decides anything. Pages are HTML from maud
//! templates, styled and enhanced by two embedded files (`/assets/console.css`, `/assets/console.js`, no
//! external assets); every page works without the script, which only refreshes the approvals inbox in place
//! and loads long trails on demand.
//!
//! Sign-in: a person pastes a token; the console keeps it in a server-side session (in memory, never on
//! disk) named by a random cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when the public URL is https).
//! Every request authenticates the token again, so a revoked or expired token ends its sessions at once.
//! Every form carries the session's CSRF token.

mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use warrant_core::role::{Action, Role};
use warrant_service::ServiceError;
use warrant_store::Principal;

use crate::AppState;

const COOKIE: &str = "warrant_console";
/// A session ends after this long without a request, and after [`SESSION_MAX`] in any case.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
const SESSION_MAX: Duration = Duration::from_secs(24 * 3600);
/// At most this many sessions are held; the oldest goes first.
const MAX_SESSIONS: usize = 10_000;

const CSS: &str = include_str!("console/console.css");
const JS: &str = include_str!("console/console.js");

/// The console's signed-in sessions.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

struct Session {
    /// The token the person signed in with; authenticated again on every request.
    secret: String,
    csrf: String,
    started: Instant,
    seen: Instant,
}

impl Sessions {
    fn create(&self, secret: String) -> Result<(String, String), ServiceError> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.retain(|_, session| session.alive());
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, session)| session.started)
                .map(|(id, _)| id.clone())
        {
            map.remove(&oldest);
        }
        let now = Instant::now();
        map.insert(
            id.clone(),
            Session {
                secret,
                csrf: csrf.clone(),
                started: now,
                seen: now,
            },
        );
        Ok((id, csrf))
    }

    /// The session's token and CSRF token, if the session is alive (and mark it seen).
    fn touch(&self, id: &str) -> Option<(String, String)> {
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let alive = map.get(id).is_some_and(Session::alive);
        if !alive {
            map.remove(id);
            return None;
        }
        let session = map.get_mut(id)?;
        session.seen = Instant::now();
        Some((session.secret.clone(), session.csrf.clone()))
    }

    /// The token behind the request's console session, if it has a live one (which log it is for: logs.rs).
    pub(crate) fn secret_of(&self, headers: &HeaderMap) -> Option<String> {
        let id = session_cookie(headers)?;
        let map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(&id)
            .filter(|session| session.alive())
            .map(|session| session.secret.clone())
    }

    fn end(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(id);
    }
}

impl Session {
    fn alive(&self) -> bool {
        self.seen.elapsed() < SESSION_IDLE && self.started.elapsed() < SESSION_MAX
    }
}

pub(super) fn random_hex() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|error| ServiceError::internal(&error))?;
    Ok(hex::encode(bytes))
}

/// The signed-in person of a page request.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Arc<Principal>,
    pub csrf: String,
    session: String,
}

impl Viewer {
    /// The role table for this page or action: 403 when the person's role may not.
    pub fn require(&self, action: Action) -> Result<(), PageError> {
        if self.principal.role.may(action) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Your token's role ({}) may not do this. The console's pages are for approvers, auditors and admins.",
                    self.principal.role
                ),
            ))
        }
    }

    /// A form's CSRF token must be this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        let matches = sent.len() == self.csrf.len()
            && sent
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if matches {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired or was not sent from this console. Reload the page and try again.",
            ))
        }
    }

    pub fn may(&self, action: Action) -> bool {
        self.principal.role.may(action)
    }

    /// The hidden field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, Response> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|path| path.as_str())
                .filter(|path| local_path(path))
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", encode(next))).into_response()
        };
        let Some(id) = session_cookie(&parts.headers) else {
            return Err(to_login());
        };
        let Some((secret, csrf)) = state.console.touch(&id) else {
            return Err(to_login());
        };
        match state.store.authenticate(&secret, chrono::Utc::now()) {
            Ok(principal) => Ok(Viewer {
                principal,
                csrf,
                session: id,
            }),
            Err(_) => {
                // Revoked or expired since sign-in: the session ends with the token.
                state.console.end(&id);
                Err(to_login())
            }
        }
    }
}

/// A page that could not be shown: its status and a message for the person.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, what)
    }
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> PageError {
        let status = crate::error::ApiError::from(error);
        PageError {
            status: status.status,
            message: status.message,
        }
    }
}

impl From<warrant_store::StoreError> for PageError {
    fn from(error: warrant_store::StoreError) -> PageError {
        ServiceError::from(error).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            status if status.is_client_error() => "Cannot do that",
            _ => "Something went wrong",
        };
        let body = html! {
            (DOCTYPE)
            html lang="en" {
                head { (head(title)) }
                body {
                    main id="main" {
                        h1 { (title) }
                        p class="error" role="alert" { (self.message) }
                        p { a href="/" { "Back to the overview" } " · " a href="/login" { "Sign in with another token" } }
                    }
                }
            }
        };
        (self.status, secure_headers(), body).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · warrant" }
        link rel="stylesheet" href="/assets/console.css";
        script src="/assets/console.js" defer {}
    }
}

/// The frame of every page: navigation, the signed-in person, the content.
pub fn page(viewer: &Viewer, title: &str, active: &str, content: Markup) -> Response {
    let nav = [
        ("/", "Overview"),
        ("/approvals", "Approvals"),
        ("/agents", "Agents"),
        ("/trails", "Trails"),
        ("/monitoring", "Monitoring"),
        ("/incidents", "Incidents"),
        ("/risks", "Risks"),
        ("/compliance", "Compliance"),
        ("/evidence", "Evidence"),
    ];
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "warrant" }
                    nav aria-label="Sections" {
                        ul {
                            @for (href, label) in nav {
                                li {
                                    a href=(href) aria-current=[(active == label).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    form class="who" method="post" action="/logout" {
                        span { (viewer.principal.name) " (" (viewer.principal.role) ")" }
                        (viewer.csrf_field())
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    (secure_headers(), body).into_response()
}

/// No script but the console's own file; style attributes (a trail step's indentation, a legend's swatch)
/// are allowed, style elements and everything external are not.
fn secure_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; style-src-attr 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// A table of a page, shown as HTML and downloadable as CSV (`?csv=<id>`).
pub struct Table {
    pub id: &'static str,
    pub caption: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// One cell: its text (what the CSV holds) and, optionally, a link or richer markup for the page.
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub markup: Option<Markup>,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: None,
            markup: None,
        }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: Some(href.into()),
            markup: None,
        }
    }

    pub fn markup(text: impl Into<String>, markup: Markup) -> Cell {
        Cell {
            text: text.into(),
            href: None,
            markup: Some(markup),
        }
    }
}

impl Table {
    pub fn new(id: &'static str, caption: impl Into<String>, headers: &[&'static str]) -> Table {
        Table {
            id,
            caption: caption.into(),
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    pub fn render(&self, path: &str) -> Markup {
        html! {
            section class="table" aria-labelledby=(format!("{}-caption", self.id)) {
                div class="table-head" {
                    h2 id=(format!("{}-caption", self.id)) { (self.caption) }
                    a class="csv" href=(format!("{path}?csv={}", self.id)) download { "Download CSV" }
                }
                @if self.rows.is_empty() {
                    p class="muted" { "Nothing to show." }
                } @else {
                    div class="scroll" {
                        table id=(self.id) {
                            thead { tr { @for header in &self.headers { th scope="col" { (header) } } } }
                            tbody {
                                @for row in &self.rows {
                                    tr {
                                        @for cell in row {
                                            td {
                                                @if let Some(markup) = &cell.markup { (markup) }
                                                @else if let Some(href) = &cell.href { a href=(href) { (cell.text) } }
                                                @else { (cell.text) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// RFC 4180 CSV; cells that a spreadsheet would run as a formula are quoted with a leading `'`.
    pub fn csv(&self) -> String {
        let field = |text: &str| {
            let text = if text.starts_with(['=', '+', '-', '@']) {
                format!("'{text}")
            } else {
                text.to_owned()
            };
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text
            }
        };
        let mut out = self
            .headers
            .iter()
            .map(|header| field(header))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str("\r\n");
        for row in &self.rows {
            out.push_str(
                &row.iter()
                    .map(|cell| field(&cell.text))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        out
    }
}

/// The `?csv=<id>` answer for one of `tables`, if asked for.
pub fn csv_answer(tables: &[&Table], asked: Option<&str>) -> Option<PageResult> {
    let asked = asked?;
    Some(match tables.iter().find(|table| table.id == asked) {
        Some(table) => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.csv\"", table.id),
                ),
            ],
            table.csv(),
        )
            .into_response()),
        None => Err(PageError::not_found(format!("this page has no table `{asked}`"))),
    })
}

/// Whether `path` stays on this server: an absolute path, not `//host` nor `/\\host` (which browsers read as
/// another host), so a sign-in link cannot send a person elsewhere.
fn local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

/// Percent-encode for a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The console's routes. They sit beside the API's `/v1/...` and answer HTML.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(pages::overview))
        .route("/approvals", get(pages::approvals))
        .route("/approvals/inbox", get(pages::approvals_inbox))
        .route("/approvals/{id}", get(pages::approval))
        .route("/approvals/{id}/decide", post(pages::decide))
        .route("/agents", get(pages::agents))
        .route("/agents/{id}", get(pages::agent))
        .route("/agents/{id}/status", post(pages::set_status))
        .route("/trails", get(pages::trails))
        .route("/trails/{id}", get(pages::trail))
        .route("/trails/{id}/rows", get(pages::trail_rows))
        .route("/events/{seq}", get(pages::event))
        .route("/monitoring", get(pages::monitoring))
        .route("/alerts/{id}", get(pages::alert))
        .route("/incidents", get(pages::incidents))
        .route(
            "/incidents/{id}",
            get(pages::incident).post(pages::update_incident),
        )
        .route("/risks", get(pages::risks))
        .route("/risks/{id}/treat", post(pages::treat_risk))
        .route("/compliance", get(pages::compliance))
        .route("/evidence", get(pages::evidence))
        .route("/evidence/export", post(pages::export))
        .route(
            "/evidence/verify",
            post(pages::verify).layer(axum::extract::DefaultBodyLimit::max(
                pages::MAX_UPLOAD + 64 * 1024,
            )),
        )
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        JS,
    )
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    error: Option<String>,
}

fn login_form(next: &str, error: Option<&str>) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head("Sign in")) }
            body class="login" {
                main id="main" {
                    h1 { "Sign in to warrant" }
                    @if let Some(error) = error { p class="error" role="alert" { (error) } }
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        label for="token" { "Token" }
                        input id="token" name="token" type="password" autocomplete="current-password" required autofocus;
                        p class="muted" { "Paste the token you were given (`warrant token create`). It stays on the server, in memory, for this session." }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    };
    (secure_headers(), body).into_response()
}

async fn login_page(axum::extract::Query(query): axum::extract::Query<NextQuery>) -> Response {
    login_form(query.next.as_deref().unwrap_or("/"), query.error.as_deref())
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(State(state): State<AppState>, axum::Form(form): axum::Form<LoginForm>) -> Response {
    let next = form
        .next
        .filter(|next| local_path(next))
        .unwrap_or_else(|| "/".into());
    let token = form.token.trim().to_owned();
    if state.store.authenticate(&token, chrono::Utc::now()).is_err() {
        let mut response = login_form(
            &next,
            Some("That token is not valid (unknown, expired or revoked)."),
        );
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let (id, _) = match state.console.create(token) {
        Ok(created) => created,
        Err(error) => return PageError::from(error).into_response(),
    };
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if let Err(error) = viewer.check_csrf(&form.csrf) {
        return error.into_response();
    }
    state.console.end(&viewer.session);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("warrant_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// Raw HTML, for the few places that build it by hand (inline SVG).
pub fn raw(text: String) -> PreEscaped<String> {
    PreEscaped(text)
}

/// Who may use the console at all: everyone but agents reads.
pub fn reads(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.principal.role == Role::Agent {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Agent tokens speak for agents; the console is for people (approvers, auditors, admins).",
        ));
    }
    viewer.require(Action::Read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_only_returns_to_this_server() {
        assert!(local_path("/approvals?x=1"));
        for elsewhere in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/\tx",
        ] {
            assert!(!local_path(elsewhere), "{elsewhere}");
        }
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut table = Table::new("t", "T", &["a", "b"]);
        table.row(vec![Cell::text("=cmd()"), Cell::text("x, \"y\"")]);
        assert_eq!(table.csv(), "a,b\r\n'=cmd(),\"x, \"\"y\"\"\"\r\n");
    }
}
