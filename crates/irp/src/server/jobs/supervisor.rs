//! The tasks of `serve` — the background jobs and the HTTP servers — each with its name: one
//! that ends while the instance runs is noticed ([`Supervisor::next_exit`]), and at the end
//! each gets a deadline ([`Supervisor::stop`]).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{Id, JoinError, JoinSet};

use super::Job;

/// A task that ended, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The job's name, or the server's.
    pub name: &'static str,
    /// Whether it is an HTTP server (else a background job).
    pub server: bool,
    /// `it returned`, `it failed: …`, `it panicked: …`.
    pub why: String,
}

/// The jobs and servers of `serve`, in one [`JoinSet`].
#[derive(Default)]
pub struct Supervisor {
    set: JoinSet<Result<(), String>>,
    /// Name, and whether a server.
    names: HashMap<Id, (&'static str, bool)>,
}

impl Supervisor {
    /// Runs `job` (see [`super::run`]) until `stop` turns true.
    pub fn start<J: Job>(&mut self, job: J, stop: watch::Receiver<bool>) {
        let name = job.name();
        let handle = self.set.spawn(super::run(job, stop));
        self.names.insert(handle.id(), (name, false));
    }

    /// Runs an HTTP server, which ends only when told to.
    pub fn serve(&mut self, name: &'static str, server: impl Future<Output = ()> + Send + 'static) {
        let handle = self.set.spawn(async move {
            server.await;
            Ok(())
        });
        self.names.insert(handle.id(), (name, true));
    }

    /// The jobs' names, sorted.
    pub fn job_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self
            .names
            .values()
            .filter(|(_, server)| !server)
            .map(|(name, _)| *name)
            .collect();
        names.sort_unstable();
        names
    }

    /// The next task to end, with why. Pending while all run (and forever when there are
    /// none).
    pub async fn next_exit(&mut self) -> Exit {
        match self.set.join_next_with_id().await {
            None => std::future::pending().await,
            Some(ended) => self.exit(ended),
        }
    }

    fn exit(&mut self, ended: Result<(Id, Result<(), String>), JoinError>) -> Exit {
        let (id, why) = match ended {
            Ok((id, Ok(()))) => (id, "it returned".to_owned()),
            Ok((id, Err(why))) => (id, format!("it failed: {why}")),
            Err(e) => {
                let id = e.id();
                let why = if e.is_panic() {
                    let payload = e.into_panic();
                    let text = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_owned());
                    format!("it panicked: {text}")
                } else {
                    "it was cancelled".to_owned()
                };
                (id, why)
            }
        };
        let (name, server) = self.names.remove(&id).unwrap_or(("a task", false));
        Exit { name, server, why }
    }

    /// Waits until every HTTP server has ended (they were told to). A job that ends meanwhile
    /// is returned, the first one.
    pub async fn servers_stopped(&mut self) -> Option<Exit> {
        let mut died = None;
        while self.names.values().any(|(_, server)| *server) {
            let exit = self.next_exit().await;
            if !exit.server && died.is_none() {
                died = Some(exit);
            }
        }
        died
    }

    /// Waits up to `within` for every task to end (they were told to); names those that did
    /// not, and aborts them.
    pub async fn stop(mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.set.is_empty() {
            match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                Ok(Some(Ok((id, Ok(()))))) => {
                    self.names.remove(&id);
                }
                Ok(Some(ended)) => {
                    let exit = self.exit(ended);
                    tracing::warn!(job = exit.name, why = %exit.why, "A background job ended badly while stopping");
                }
                Ok(None) => break,
                Err(_) => {
                    let mut left: Vec<&str> = self.names.values().map(|(name, _)| *name).collect();
                    left.sort_unstable();
                    tracing::warn!(jobs = ?left, "Background jobs did not stop within {} s; their claims will expire", within.as_secs());
                    self.set.abort_all();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Exit, Supervisor};

    fn exit(name: &'static str, server: bool, why: &str) -> Exit {
        Exit {
            name,
            server,
            why: why.to_owned(),
        }
    }

    #[tokio::test]
    async fn a_task_that_ends_is_named_with_why() {
        let mut tasks = Supervisor::default();
        tasks.serve("http", std::future::pending());
        tasks.serve("metrics", async {});
        assert_eq!(
            tasks.next_exit().await,
            exit("metrics", true, "it returned")
        );
        tasks.serve("breaks", async { panic!("the socket vanished") });
        assert_eq!(
            tasks.next_exit().await,
            exit("breaks", true, "it panicked: the socket vanished")
        );
        // One that does not stop is given up after the deadline, not waited for.
        let t = std::time::Instant::now();
        tasks.stop(Duration::from_millis(200)).await;
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn without_tasks_nothing_ends() {
        let mut tasks = Supervisor::default();
        let r = tokio::time::timeout(Duration::from_millis(100), tasks.next_exit()).await;
        assert!(r.is_err(), "no task, no exit");
        assert_eq!(tasks.servers_stopped().await, None, "no server to wait for");
    }

    #[tokio::test]
    async fn stopping_the_servers_waits_for_them_and_notes_a_job_that_died() {
        let mut tasks = Supervisor::default();
        let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
        tasks.serve("http", async {
            let _ = done.await;
        });
        let handle = tasks
            .set
            .spawn(async { Err("the database is gone".to_owned()) });
        tasks.names.insert(handle.id(), ("feeds", false));
        let waiting = tokio::spawn(async move {
            let died = tasks.servers_stopped().await;
            (died, tasks)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the server still drains");
        done_tx.send(()).unwrap();
        let (died, tasks) = waiting.await.unwrap();
        assert_eq!(
            died,
            Some(exit("feeds", false, "it failed: the database is gone"))
        );
        assert!(tasks.set.is_empty());
    }
}
