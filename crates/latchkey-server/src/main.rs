//! `latchkey`: parse the command line, load settings, dispatch.

use std::process::ExitCode;

use clap::Parser;
use latchkey_server::{
    cli::{Cli, Command, MfaAction, ServeArgs, SessionsAction, ThrottleAction, UsersAction},
    commands::{self, Terminal},
    config, telemetry,
};

// glibc's malloc keeps each thread's freed Argon2 blocks (19 MiB per hash)
// in per-thread arenas, so RSS grows with every blocking-pool thread that
// ever hashed; mimalloc returns them, and is faster on the small
// allocations of the request path.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    telemetry::init(cli.log_level.as_deref().unwrap_or(default_level), cli.log_format);
    // Idle hashing threads exit after 2 s (tokio's default is 10 s), so the
    // Argon2 memory they last used goes back to the OS soon after a burst.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = match &cli.command {
        Command::Serve(a) | Command::Check { args: a, .. } | Command::Openapi { args: a } => a.clone(),
        _ => ServeArgs::default(),
    };
    let config = config::load(cli.config.as_deref(), utf8_env(), &flags.overrides(cli.database.clone()))?;
    let settings = config.latchkey.clone();
    match cli.command {
        Command::Serve(_) => commands::serve(config).await,
        Command::Migrate => commands::migrate(settings).await,
        Command::Createsuperuser { username, email, no_input, allow_weak_password } => {
            commands::createsuperuser(settings, username, email, no_input, allow_weak_password, &mut Terminal).await
        }
        Command::Changepassword { username, no_input, allow_weak_password } => {
            commands::changepassword(settings, username, no_input, allow_weak_password, &mut Terminal).await
        }
        Command::Clearsessions => commands::clearsessions(settings).await,
        Command::Deactivate { username } => commands::set_active(settings, username, false).await,
        Command::Activate { username } => commands::set_active(settings, username, true).await,
        Command::Events { limit, username, json } => commands::events(settings, limit, username, json).await,
        Command::Outbox { failed, retry, all, limit } => commands::outbox(settings, failed, retry, all, limit).await,
        Command::Users { action: UsersAction::List { search, staff, inactive, limit, json } } => {
            commands::users_list(settings, search, staff, inactive, limit, json).await
        }
        Command::Users {
            action: UsersAction::Set { username, staff, no_staff, superuser, no_superuser, active, inactive },
        } => {
            let flag = |on: bool, off: bool| {
                if on {
                    Some(true)
                } else if off {
                    Some(false)
                } else {
                    None
                }
            };
            let changes = latchkey::users::UserChanges {
                is_staff: flag(staff, no_staff),
                is_superuser: flag(superuser, no_superuser),
                is_active: flag(active, inactive),
                ..Default::default()
            };
            commands::users_set(settings, username, changes).await
        }
        Command::Mfa { action: MfaAction::Reset { username } } => commands::mfa_reset(settings, username).await,
        Command::ImportDjango { from, dry_run, update } => {
            commands::import_django(settings, from, dry_run, update).await
        }
        Command::Sessions { action: SessionsAction::List { username, json } } => {
            commands::sessions_list(settings, username, json).await
        }
        Command::Sessions { action: SessionsAction::Revoke { username, id, all } } => {
            commands::sessions_revoke(settings, username, id, all).await
        }
        Command::Throttle { action: ThrottleAction::Reset { username, ip, all } } => {
            commands::throttle_reset(settings, username, ip, all).await
        }
        Command::Openapi { .. } => {
            let doc = latchkey::http::openapi::document(&settings);
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Check { deploy, providers, .. } => {
            print!("{}", commands::describe(&config));
            // Both run when both are asked for; each prints its findings.
            let reached = if providers { commands::check_providers(&settings).await } else { Ok(()) };
            let deployable = if deploy { commands::check_deploy(&settings).await } else { Ok(()) };
            reached.and(deployable)
        }
    }
}

/// The environment, skipping variables that are not valid UTF-8 (which
/// `std::env::vars` would panic on).
fn utf8_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}
