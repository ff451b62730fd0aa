//! `erp`: the ERP rounds — each placed supplier order's document in Odoo.

use std::time::Duration;

use irp_pipeline::erp::{Erp, connect, round};
use irp_store::Store;
use irp_store::secrets::SecretKey;

use super::{Job, JobError, StepReport};

/// The ERP rounds: every tick (`IRP_ERP_TICK_SECS`) a round while an ERP connector is applied
/// and enabled. The connector's client is kept between rounds and set up again when its
/// settings change or a round fails (so a rotated secret is read anew).
pub struct ErpRounds {
    store: Store,
    owner: String,
    secret_key: Option<SecretKey>,
    tick: Duration,
    /// The client, with the settings it was made from.
    connected: Option<(String, Erp)>,
}

impl ErpRounds {
    /// The rounds of this instance (`owner` in its claims).
    pub fn new(store: Store, owner: &str, secret_key: Option<SecretKey>, tick: Duration) -> Self {
        Self {
            store,
            owner: owner.to_owned(),
            secret_key,
            tick,
            connected: None,
        }
    }
}

impl Job for ErpRounds {
    fn name(&self) -> &'static str {
        "erp"
    }

    fn tick(&self) -> Duration {
        self.tick
    }

    /// Items: the documents worked on (made, to retry, given up). Failures are warnings, as the
    /// connector's own state shows them to operators.
    async fn step(&mut self) -> Result<StepReport, JobError> {
        let stored = match self.store.erp().get().await {
            Ok(Some(stored)) if stored.config.enabled => stored,
            Ok(_) => {
                self.connected = None;
                return Ok(StepReport::idle());
            }
            Err(e) => {
                tracing::warn!(error = %e, "Reading the ERP connector failed");
                return Ok(StepReport {
                    errors: 1,
                    ..StepReport::default()
                });
            }
        };
        let fingerprint = serde_json::to_string(&stored.config).unwrap_or_default();
        if self
            .connected
            .as_ref()
            .is_none_or(|(f, _)| *f != fingerprint)
        {
            match connect(&self.store, self.secret_key.as_ref()).await {
                Ok(erp) => self.connected = Some((fingerprint, erp)),
                Err(e) => {
                    tracing::warn!(error = %e, "The ERP connector cannot be used");
                    self.connected = None;
                    return Ok(StepReport {
                        errors: 1,
                        ..StepReport::default()
                    });
                }
            }
        }
        let Some((_, erp)) = &self.connected else {
            return Ok(StepReport::idle());
        };
        match round(&self.store, erp, &self.owner).await {
            Ok(r) => Ok(StepReport::done(r.done + r.retrying + r.failed)),
            Err(e) => {
                tracing::warn!(error = %e, "An ERP round failed");
                // Set up again next tick: a rotated secret is read anew.
                self.connected = None;
                Ok(StepReport {
                    errors: 1,
                    ..StepReport::default()
                })
            }
        }
    }
}
