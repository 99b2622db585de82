//! Process executor (bubblewrap or plain process). Being written; see executor/mod.rs for the contract.
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ExecError, OutputLine, RunOutcome, RunSpec};

pub struct ProcessExecutor;

impl ProcessExecutor {
    pub async fn run(
        &self,
        _spec: &RunSpec,
        _output: mpsc::Sender<OutputLine>,
        _cancel: CancellationToken,
    ) -> Result<RunOutcome, ExecError> {
        Err(ExecError::Infrastructure(
            "process executor not built yet".into(),
        ))
    }

    pub async fn sweep(&self, _worker: &str) -> Result<usize, ExecError> {
        Ok(0)
    }
}
