//! Start-up and shutdown: wires config, store, SIP transport, platform and HTTP together.
//! `start` binds everything (port 0 allowed) and returns the bound addresses, so tests run
//! many instances side by side.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::platform::endpoint::{self, Endpoint};
use crate::platform::events::EventBus;
use crate::platform::live::LiveSessions;
use crate::platform::registry::Registry;
use crate::store::Store;
use crate::store::writer::StoreWriter;
use crate::transport::{SipSender, TcpConnections, TransportStats, udp};

/// A running platform.
#[derive(Debug)]
pub struct Running {
    pub http_addr: SocketAddr,
    /// Bound SIP addresses (None when that transport is off).
    pub sip_udp: Option<SocketAddr>,
    pub sip_tcp: Option<SocketAddr>,
    pub registry: Registry,
    pub endpoint: Endpoint,
    pub store: Store,
    pub events: EventBus,
    pub live: LiveSessions,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    writer_task: tokio::task::JoinHandle<()>,
    writer: Option<StoreWriter>,
}

/// Starts the platform.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = Store::connect(&config.database.url, config.database.max_connections)
        .await
        .with_context(|| format!("opening database {}", redact_url(&config.database.url)))?;
    tracing::info!(backend = store.backend_name(), url = %redact_url(&config.database.url), "database ready");
    crate::auth::ensure_admin(&store, &config.auth, crate::platform::unix_ms())
        .await
        .context("creating the admin account")?;
    let (writer, writer_task) = StoreWriter::spawn(store.clone());
    let events = EventBus::default();
    let metrics = crate::metrics::Metrics::new();
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let webhooks = crate::platform::webhooks::start(&config.webhooks, &events, shutdown.clone())
        .context("starting webhooks")?;
    metrics.add_source(webhooks);

    // SIP transport. With port 0 the TCP listener takes the port UDP got, so both share one.
    let sip = Arc::new(config.sip.clone());
    let stats = Arc::new(TransportStats::default());
    let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(16_384);
    let (udp_sock, tcp_listener) = bind_sip(&sip).await?;
    let tcp = match tcp_listener {
        Some(l) => {
            let conns = TcpConnections::new(
                l.local_addr()?,
                sip.tcp_max_connections,
                sip.tcp_idle_timeout,
                inbound_tx.clone(),
                stats.clone(),
                shutdown.clone(),
            );
            Some((l, conns))
        }
        None => None,
    };
    let sender = SipSender::new(
        udp_sock.clone(),
        tcp.as_ref().map(|(_, c)| c.clone()),
        stats,
    );
    // The endpoint's task reads the UDP socket itself (`sender` holds it).
    if let Some((l, conns)) = tcp {
        tasks.spawn(conns.run_listener(l, sender.clone()));
    }
    drop(inbound_tx);
    let registry = Registry::start(
        sip.clone(),
        store.clone(),
        writer.clone(),
        events.clone(),
        shutdown.clone(),
    )
    .await
    .context("loading devices")?;
    let endpoint = endpoint::spawn(
        sip.clone(),
        inbound_rx,
        sender.clone(),
        registry.clone(),
        shutdown.clone(),
    );
    let catalog = crate::platform::catalog::start(
        crate::platform::catalog::Deps {
            config: sip.clone(),
            store: store.clone(),
            writer: writer.clone(),
            endpoint: endpoint.clone(),
            registry: registry.clone(),
            events: events.clone(),
        },
        shutdown.clone(),
    );
    let config = Arc::new(config);
    let live = LiveSessions::start(
        config.clone(),
        store.clone(),
        registry.clone(),
        endpoint.clone(),
        events.clone(),
        shutdown.clone(),
    );
    let (sip_udp, sip_tcp) = (sender.udp_local(), sender.tcp_local());
    tracing::info!(udp = ?sip_udp, tcp = ?sip_tcp, server_id = %sip.server_id, realm = %sip.realm(), "SIP listening");

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("binding HTTP listener on {}", config.http.listen))?;
    let http_addr = listener.local_addr()?;
    let app = api::router(ApiState {
        store: store.clone(),
        started: Instant::now(),
        config: config.clone(),
        events: events.clone(),
        registry: registry.clone(),
        endpoint: endpoint.clone(),
        live: live.clone(),
        metrics: metrics.clone(),
        catalog,
        shutdown: shutdown.clone(),
        live_signer: crate::auth::LiveSigner::new(),
        auth: api::auth::AuthGuard::new(&config.auth, &metrics),
    });
    let stop = shutdown.clone();
    tasks.spawn(async move {
        // Connect info: the login throttle counts failures per client address.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    tracing::info!(%http_addr, "HTTP API listening");

    Ok(Running {
        http_addr,
        sip_udp,
        sip_tcp,
        registry,
        endpoint,
        store,
        events,
        live,
        shutdown,
        tasks,
        writer_task,
        writer: Some(writer),
    })
}

impl Running {
    /// Stops every task and flushes pending writes to the database.
    pub async fn shutdown(mut self) {
        // BYE to every live device while the SIP endpoint still runs.
        self.live.shutdown().await;
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(w) = self.writer.take() {
            let _ = w.flush().await;
        }
        let _ = (&mut self.writer_task).await;
        self.store.close().await;
    }

    /// Resolves when a task ended on its own (which means something failed).
    pub async fn wait(&mut self) {
        self.tasks.join_next().await;
    }
}

/// Binds the SIP UDP socket and TCP listener on `sip.listen`. With port 0 both must share
/// the port UDP got; when TCP finds it taken, try another pair.
async fn bind_sip(
    sip: &crate::config::SipConfig,
) -> anyhow::Result<(
    Option<Arc<tokio::net::UdpSocket>>,
    Option<tokio::net::TcpListener>,
)> {
    let want_udp = sip.transports.iter().any(|t| t == "udp");
    let want_tcp = sip.transports.iter().any(|t| t == "tcp");
    let attempts = if sip.listen.port() == 0 { 20 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let mut listen = sip.listen;
        let udp_sock = if want_udp {
            let s = udp::bind(listen).with_context(|| format!("binding SIP UDP on {listen}"))?;
            listen = s.local_addr()?;
            Some(Arc::new(s))
        } else {
            None
        };
        if !want_tcp {
            return Ok((udp_sock, None));
        }
        match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => return Ok((udp_sock, Some(l))),
            Err(e) => {
                last_err =
                    Some(anyhow::Error::new(e).context(format!("binding SIP TCP on {listen}")))
            }
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("binding SIP listeners")))
}

/// Hides the password part of a database URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://vigil:hunter2@db:5432/vigil"),
            "postgres://vigil:***@db:5432/vigil"
        );
        assert_eq!(
            super::redact_url("sqlite://data/vigil.db"),
            "sqlite://data/vigil.db"
        );
    }
}
