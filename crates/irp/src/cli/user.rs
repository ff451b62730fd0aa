//! `irp user …`: operator accounts for the portal.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{Global, UserCommand, actor, open_store, table, time};

/// `irp user …`: operator accounts for the portal.
///
/// # Errors
/// The database fails, or the address, role or password is refused.
pub async fn user(global: &Global, cmd: UserCommand) -> Result<ExitCode> {
    use std::io::{IsTerminal as _, Read as _};
    let store = open_store(global).await?;
    match cmd {
        UserCommand::Add { email, role } => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!(
                    "Type the password (at least {} characters), then Enter and Ctrl-D. It shows as you type; \
                     to avoid that, pipe it in: `irp user add {email} < file`",
                    irp_store::users::MIN_PASSWORD_CHARS
                );
            }
            let mut password = String::new();
            stdin
                .read_to_string(&mut password)
                .context("reading the password from stdin")?;
            let password = password
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&password);
            if let Some(why) = crate::server::auth::password_refused(password, &email) {
                anyhow::bail!("{why}");
            }
            match store.users().set(&email, password, &role, &actor()).await {
                Ok(irp_store::users::UserSet::Created) => {
                    outln!("made account {} ({role})", email.trim().to_lowercase());
                }
                Ok(irp_store::users::UserSet::Updated) => {
                    outln!(
                        "account {} has a new password and role {role}; its sessions ended",
                        email.trim().to_lowercase()
                    );
                }
                Err(irp_store::StoreError::Conflict(m)) => anyhow::bail!("{m}"),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::List { json } => {
            let users = store.users().list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&users)?);
            } else if users.is_empty() {
                outln!("no accounts yet: `irp user add EMAIL` makes one");
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.email.clone(),
                            u.role.to_string(),
                            time(u.last_login_at),
                            u.disabled_at.map_or_else(String::new, |t| {
                                format!("disabled {}", time(Some(t)))
                            }),
                        ]
                    })
                    .collect();
                table(&["EMAIL", "ROLE", "LAST LOGIN", "STATE"], &rows);
            }
        }
        UserCommand::Disable { email } => {
            if store.users().disable(&email, &actor()).await? {
                outln!("account {email} disabled; its sessions ended");
            } else {
                eprintln!("error: no enabled account {email}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
