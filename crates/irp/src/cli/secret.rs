//! `irp secret …`: the encrypted secret store (values referenced as `${secret:NAME}`).

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use irp_store::secrets::SetOutcome;
use serde_json::json;

use super::{Global, SecretCommand, actor, open_store, table};
use crate::secret_key;

/// `irp secret …`.
pub async fn secret(global: &Global, cmd: SecretCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        SecretCommand::Set { name } => {
            if !irp_core::secret_ref::valid_name(&name) {
                bail!("invalid secret name `{name}`: use letters, digits, `_`, `-` and `.`");
            }
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Enter the value of `{name}`, then press Enter and Ctrl-D:");
            }
            let mut value = String::new();
            stdin
                .read_to_string(&mut value)
                .context("reading the secret value from stdin")?;
            let value = value
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&value);
            if value.is_empty() {
                bail!("no value on stdin: pipe it in, e.g. `irp secret set {name} < file`");
            }
            let key = secret_key::load(&global.secret_key_file, true)?;
            let outcome = store.secrets().set(&key, &name, value).await?;
            store
                .audit(
                    &actor(),
                    "secret.set",
                    &name,
                    json!({ "replaced": outcome == SetOutcome::Replaced }),
                )
                .await?;
            match outcome {
                SetOutcome::Created => {
                    outln!("stored secret `{name}`; reference it as \"${{secret:{name}}}\"")
                }
                SetOutcome::Replaced => outln!("replaced secret `{name}`"),
            }
            match crate::ops::bind_secret(&store, &key, &name).await? {
                Some(to) if !to.is_empty() => {
                    outln!("it is sent only to {}", to.join(", "));
                }
                _ => outln!(
                    "no stored document sends it anywhere yet: its first use binds it to where that document points (store credentials once their document is in place)"
                ),
            }
        }
        SecretCommand::List { json } => {
            let all = store.secrets().list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                outln!("no secrets yet: store one with `irp secret set NAME`");
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.updated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        ]
                    })
                    .collect();
                table(&["NAME", "UPDATED"], &rows);
            }
        }
        SecretCommand::Delete { name } => {
            if !store.secrets().delete(&name).await? {
                bail!("no secret `{name}`");
            }
            store
                .audit(&actor(), "secret.delete", &name, json!({}))
                .await?;
            outln!("deleted secret `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}
