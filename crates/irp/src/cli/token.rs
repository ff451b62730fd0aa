//! `irp token …`: API tokens.

use std::process::ExitCode;

use anyhow::Result;

use super::{Global, TokenCommand, actor, open_store, time};

/// `irp token …`.
///
/// # Errors
/// The store fails.
pub async fn token(global: &Global, cmd: TokenCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        TokenCommand::Create {
            name,
            role,
            expires,
        } => {
            let expires_at = match expires
                .as_deref()
                .map(|w| parse_expiry(w, chrono::Utc::now()))
            {
                None => None,
                Some(Ok(at)) => Some(at),
                Some(Err(why)) => {
                    eprintln!("error: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            match store
                .tokens()
                .create(&name, &role, expires_at, &actor())
                .await
            {
                Ok(token) => {
                    outln!("{token}");
                    if let Some(at) = expires_at {
                        eprintln!("It works until {} (UTC).", time(Some(at)));
                    }
                    eprintln!(
                        "This is the only time the token is shown: store it where the caller keeps secrets. \
                     Send it as `Authorization: Bearer <token>`."
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(irp_store::StoreError::Conflict(why)) => {
                    eprintln!("error: {why}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        TokenCommand::List { json } => {
            let list = store.tokens().list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                outln!("No tokens. Make one with `irp token create NAME`.");
            } else {
                let now = chrono::Utc::now();
                for t in &list {
                    outln!(
                        "{:<32} {:<9} {}…  created {}, last used {}, {}{}",
                        t.name,
                        t.role,
                        t.prefix.as_deref().unwrap_or("irp_"),
                        time(Some(t.created_at)),
                        time(t.last_used_at),
                        match t.expires_at {
                            None => "never expires".to_owned(),
                            Some(e) if e <= now => format!("EXPIRED {}", time(Some(e))),
                            Some(e) => format!("expires {}", time(Some(e))),
                        },
                        t.revoked_at
                            .map(|r| format!(", REVOKED {}", time(Some(r))))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { name } => {
            if store.tokens().revoke(&name, &actor()).await? {
                outln!("Revoked token `{name}`.");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no token named `{name}`");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// When a token made at `now` expires: a duration (`12h`, `90d`, `4w`) from `now`, or an RFC 3339
/// time (`2027-06-30T00:00:00Z`), in the future either way.
///
/// # Errors
/// A text that is neither, or a time not after `now`.
pub(crate) fn parse_expiry(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    let expected = "expected a duration such as 12h, 90d or 4w, or an RFC 3339 time such as 2027-06-30T00:00:00Z";
    let at = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&chrono::Utc)
    } else {
        let split = text.len().saturating_sub(1);
        let (number, unit) = (
            text.get(..split).unwrap_or(""),
            text.get(split..).unwrap_or(""),
        );
        let n: i64 = number
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--expires {text:?}: {expected}"))?;
        let span = match unit {
            "h" => chrono::TimeDelta::try_hours(n),
            "d" => chrono::TimeDelta::try_days(n),
            "w" => chrono::TimeDelta::try_weeks(n),
            _ => None,
        }
        .ok_or_else(|| format!("--expires {text:?}: {expected}"))?;
        now.checked_add_signed(span)
            .ok_or_else(|| format!("--expires {text:?} is too far away"))?
    };
    if at <= now {
        return Err(format!("--expires {text:?} is not in the future"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_durations_or_rfc_3339_times() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let at = |s: &str| parse_expiry(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("12h").unwrap(), "2026-12-01T12:00:00+00:00");
        assert_eq!(at("90d").unwrap(), "2027-03-01T00:00:00+00:00");
        assert_eq!(at("2w").unwrap(), "2026-12-15T00:00:00+00:00");
        assert_eq!(
            at("2027-06-30T00:00:00+02:00").unwrap(),
            "2027-06-29T22:00:00+00:00"
        );
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "10m",
            "90 days",
            "2020-01-01T00:00:00Z",
            "1x",
        ] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
    }
}
