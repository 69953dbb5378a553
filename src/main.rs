//! The `vigil` command: `serve`, `demo`, `sim`, `reset-password`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use vigil::config::{Config, LogConfig};

/// mimalloc returns memory to the OS after bursts (registration storms, GOP caches) that
/// glibc malloc keeps, and is faster on the many small allocations of the SIP and media paths.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use vigil::sim::{SimConfig, SimTransport, Simulator};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "GB/T 28181 video surveillance platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform.
    Serve {
        /// TOML config file (see config/vigil.toml); built-in defaults without it.
        #[arg(long, env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the platform plus simulated cameras registering to it over loopback.
    Demo {
        /// TOML config file (see config/vigil.toml); built-in defaults without it.
        #[arg(long, env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
        /// Simulated devices.
        #[arg(long, default_value_t = 4)]
        devices: usize,
        /// Channels per device.
        #[arg(long, default_value_t = 4)]
        channels: usize,
    },
    /// Simulate GB28181 devices (cameras, NVRs) against a platform until Ctrl-C.
    Sim(Box<SimArgs>),
    /// Set a user's password in the database and end their sessions: a new random password
    /// printed once to stdout, or the one given. A missing user is created as an admin.
    /// Works while vigil runs.
    ResetPassword {
        /// TOML config file (see config/vigil.toml): which database to open.
        #[arg(long, env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
        /// The user; default: [auth] admin_user.
        #[arg(long)]
        user: Option<String>,
        /// The new password (at least 8 characters) instead of a random one. The
        /// environment variable keeps it out of the process list.
        #[arg(long, env = "VIGIL_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// The platform's SIP address (HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: String,
    /// Number of devices.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Channels per device (IDs of type 131).
    #[arg(long, default_value_t = 1)]
    channels: usize,
    /// Device IDs are this prefix (13-19 digits: domain, type, fixed digits) plus a serial.
    #[arg(long, default_value = "3402000000132")]
    id_prefix: String,
    /// Serial of the first device.
    #[arg(long, default_value_t = 1)]
    first_serial: u64,
    /// Digest password of every device.
    #[arg(
        long,
        env = "VIGIL_SIM_PASSWORD",
        default_value = "12345678",
        hide_env_values = true
    )]
    password: String,
    /// The platform's 20-digit ID.
    #[arg(long, default_value = "34020000002000000001")]
    server_id: String,
    /// SIP domain; default: the first 10 digits of --server-id.
    #[arg(long)]
    domain: Option<String>,
    /// udp or tcp (TCP: one connection, so one file descriptor, per device).
    #[arg(long, default_value = "udp")]
    transport: vigil::sim::SimTransport,
    /// Keepalive period: seconds or with a unit ("500ms", "1m").
    #[arg(long, default_value = "60", value_parser = parse_duration)]
    keepalive: Duration,
    /// Expires asked for in REGISTER, seconds.
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    /// Devices started per second (0: all at once).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Catalog items per result MESSAGE.
    #[arg(long, default_value_t = 1)]
    catalog_page: usize,
    /// Charset of MANSCDP bodies: gb2312, gbk, gb18030 or utf-8.
    #[arg(long, default_value = "gb2312", value_parser = parse_charset)]
    charset: vigil_gb::Charset,
    /// Local IP to bind and advertise (default: the one that routes to the server).
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// UDP sockets shared by the devices (0: one per 2,500 devices, at most 8).
    #[arg(long, default_value_t = 0)]
    udp_sockets: usize,
    /// First back-off after a refused or unanswered REGISTER (doubles up to 8x).
    #[arg(long, default_value = "10", value_parser = parse_duration)]
    retry: Duration,
    /// How often to print the status line.
    #[arg(long, default_value = "5", value_parser = parse_duration)]
    status_every: Duration,
    /// Live view: codec of the shipped clip the channels stream (h264 or h265).
    #[arg(long, default_value = "h264", value_parser = parse_codec)]
    codec: vigil_media::VideoCodec,
    /// Live view: frames per second the clip is sent at (25 is its own rate; 10 gives
    /// ~0.8 Mbit/s at ~70 RTP packets/s).
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Live view: an Annex-B file (of --codec) to stream instead of the shipped clip.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Live view: RTP packets dropped at random, in percent.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Live view: send RTP with another SSRC than the INVITE offered.
    #[arg(long)]
    ssrc_mismatch: bool,
    /// Live view: raw H.264 over RTP (PT 98) instead of PS.
    #[arg(long)]
    raw_h264: bool,
    /// Live view: refuse every INVITE with this SIP status.
    #[arg(long)]
    refuse_invite: Option<u16>,
    /// Live view: start each stream at this frame of the clip (0: its first key frame;
    /// others start mid-GOP, as some cameras do).
    #[arg(long, default_value_t = 0)]
    start_frame: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    vigil::config::secs::parse_duration(s)
        .ok_or_else(|| format!("invalid duration {s:?}: seconds or e.g. 500ms, 30s, 5m"))
}

fn parse_codec(s: &str) -> Result<vigil_media::VideoCodec, String> {
    match s.to_ascii_lowercase().as_str() {
        "h264" | "avc" => Ok(vigil_media::VideoCodec::H264),
        "h265" | "hevc" => Ok(vigil_media::VideoCodec::H265),
        _ => Err(format!("unknown codec {s:?} (h264 or h265)")),
    }
}

fn parse_charset(s: &str) -> Result<vigil_gb::Charset, String> {
    vigil_gb::Charset::from_label(s).ok_or_else(|| format!("unknown charset {s:?}"))
}

fn init_logging(log: &LogConfig) {
    init_logging_to(log, BoxMakeWriter::new(std::io::stdout));
}

fn init_logging_to(log: &LogConfig, writer: BoxMakeWriter) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn load_config(path: Option<&std::path::Path>) -> Config {
    match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil: {e}");
            std::process::exit(2);
        }
    }
}

fn main() -> anyhow::Result<()> {
    // Must happen before any thread exists (see platform::init_local_offset).
    vigil::platform::init_local_offset();
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = load_config(config.as_deref());
            init_logging(&config.log);
            let mut running = vigil::app::start(config).await?;
            tokio::select! {
                _ = shutdown_signal() => tracing::info!("shutting down"),
                _ = running.wait() => tracing::error!("a server task stopped unexpectedly; shutting down"),
            }
            running.shutdown().await;
        }
        Command::Demo {
            config,
            devices,
            channels,
        } => {
            let config = load_config(config.as_deref());
            init_logging(&config.log);
            demo(config, devices, channels).await?;
        }
        Command::Sim(args) => {
            init_logging(&LogConfig::default());
            sim(*args).await?;
        }
        Command::ResetPassword {
            config,
            user,
            password,
        } => {
            let config = load_config(config.as_deref());
            // stdout is for the password alone.
            init_logging_to(&config.log, BoxMakeWriter::new(std::io::stderr));
            reset_password(&config, user, password).await?;
        }
    }
    Ok(())
}

/// `vigil reset-password`: the generated password goes to stdout (alone, for scripts),
/// what happened to stderr.
async fn reset_password(
    config: &Config,
    user: Option<String>,
    password: Option<String>,
) -> anyhow::Result<()> {
    let url = &config.database.url;
    let store = vigil::store::Store::connect(url, 1)
        .await
        .map_err(|e| anyhow::anyhow!("opening database {}: {e}", vigil::app::redact_url(url)))?;
    let user = user.unwrap_or_else(|| config.auth.admin_user.clone());
    let result = vigil::auth::reset_password(
        &store,
        &user,
        password.map(vigil::config::Secret),
        vigil::platform::unix_ms(),
    )
    .await;
    store.close().await;
    let reset = match result {
        Ok(r) => r,
        Err(e @ (vigil::auth::ResetError::BadPassword(_) | vigil::auth::ResetError::NoUser)) => {
            eprintln!("vigil: {e}");
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    let what = if reset.created {
        "created as an admin"
    } else {
        "password set; their sessions ended"
    };
    match reset.generated {
        Some(pw) => {
            eprintln!(
                "user {:?}: {what}; the new password (shown only now):",
                reset.user.username
            );
            println!("{}", pw.expose());
        }
        None => eprintln!("user {:?}: {what}", reset.user.username),
    }
    if !config.auth.enabled {
        eprintln!("note: [auth] enabled is false, so nobody needs to log in yet");
    }
    Ok(())
}

/// `serve` plus simulated devices registering over loopback with the platform's own
/// settings (IDs, password, keepalive), so the dashboard has something to show at once.
async fn demo(config: Config, devices: usize, channels: usize) -> anyhow::Result<()> {
    let mut running = vigil::app::start(config.clone()).await?;
    let (server, transport) = match (running.sip_udp, running.sip_tcp) {
        (Some(a), _) => (a, SimTransport::Udp),
        (None, Some(a)) => (a, SimTransport::Tcp),
        (None, None) => anyhow::bail!("the platform listens on no SIP transport"),
    };
    let server = loopback_if_unspecified(server);
    let sim = Simulator::start(SimConfig {
        server,
        server_id: config.sip.server_id.clone(),
        domain: config.sip.domain.clone(),
        devices,
        channels,
        password: config.sip.password.expose().to_owned(),
        transport,
        keepalive_interval: config.sip.keepalive_interval,
        register_expires: config
            .sip
            .register_expires_default
            .as_secs()
            .clamp(1, u32::MAX.into()) as u32,
        rate: 20.0,
        bind_ip: Some(server.ip()),
        retry_interval: Duration::from_secs(5),
        ..SimConfig::default()
    })
    .await?;
    if !config.sip.allow_unknown_devices {
        tracing::warn!(
            "sip.allow_unknown_devices is false: the demo devices are refused until provisioned"
        );
    }
    let http = loopback_if_unspecified(running.http_addr);
    if config.auth.enabled {
        let user = &config.auth.admin_user;
        tracing::info!(devices, channels, %server, "demo: simulated devices registering; open http://{http}/ and log in as {user} (password: see above)");
    } else {
        tracing::info!(devices, channels, %server, "demo: simulated devices registering; open http://{http}/");
    }
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = running.wait() => tracing::error!("a server task stopped unexpectedly; shutting down"),
    }
    sim.stop().await;
    running.shutdown().await;
    Ok(())
}

fn loopback_if_unspecified(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, a.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, a.port()).into(),
        _ => a,
    }
}

/// `vigil sim`: runs until Ctrl-C with a status line every few seconds.
async fn sim(args: SimArgs) -> anyhow::Result<()> {
    let server = tokio::net::lookup_host(&args.server)
        .await
        .map_err(|e| anyhow::anyhow!("--server {}: {e}", args.server))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("--server {}: no address", args.server))?;
    let domain = args
        .domain
        .clone()
        .unwrap_or_else(|| args.server_id.chars().take(10).collect());
    let devices = args.devices;
    let clip = match &args.clip {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("--clip {}: {e}", path.display()))?
                .into(),
        ),
        None => None,
    };
    let media = vigil::sim::SimMedia {
        invite: match args.refuse_invite {
            Some(status) => vigil::sim::InviteAnswer::Refuse(status),
            None => vigil::sim::InviteAnswer::Stream,
        },
        codec: args.codec,
        fps: args.fps,
        loss_percent: args.loss,
        ssrc_mismatch: args.ssrc_mismatch,
        raw_h264: args.raw_h264,
        clip,
        ignore_first_ack: false,
        start_frame: args.start_frame,
    };
    let sim = Simulator::start(SimConfig {
        server,
        server_id: args.server_id,
        domain,
        devices,
        channels: args.channels,
        id_prefix: args.id_prefix,
        first_serial: args.first_serial,
        password: args.password,
        transport: args.transport,
        keepalive_interval: args.keepalive,
        register_expires: args.expires,
        rate: args.rate,
        bind_ip: args.bind,
        udp_sockets: args.udp_sockets,
        catalog_page: args.catalog_page,
        charset: args.charset,
        retry_interval: args.retry,
        media,
        ..SimConfig::default()
    })
    .await?;
    println!(
        "simulating {devices} devices x {} channels ({} to {}) against {server}; Ctrl-C stops",
        args.channels,
        sim.device_id(0),
        sim.device_id(devices - 1)
    );
    let started = Instant::now();
    let mut tick = tokio::time::interval(args.status_every);
    tick.tick().await;
    {
        let all = sim.wait_registered(devices, Duration::from_secs(365 * 86_400));
        let stop = shutdown_signal();
        tokio::pin!(all, stop);
        let mut all_done = false;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                r = &mut all, if !all_done => {
                    all_done = true;
                    if r.is_ok() {
                        println!("all {devices} devices registered after {:.2} s", started.elapsed().as_secs_f64());
                    }
                }
                _ = tick.tick() => {
                    println!("{:>7.1}s {}", started.elapsed().as_secs_f64(), sim.with_status(|s| s.to_string()));
                }
            }
        }
    }
    println!("final: {}", sim.with_status(|s| s.to_string()));
    sim.stop().await;
    Ok(())
}
