//! `zeus-bso-state/v1` (formats.md): a recurring job's batch-size optimizer with the cost model
//! its reports are priced in, as the text a job launcher keeps between recurrences (the
//! reference keeps it in a database behind an HTTP server).

use alloc::string::{String, ToString};

use serde::{Deserialize, Serialize};

use super::{BatchSizeOptimizer, Eta, ZeusError, zeus_cost};
use crate::formats::{parse_document, to_json};

/// Schema name of a saved batch-size optimizer.
pub const BSO_STATE_SCHEMA: &str = "zeus-bso-state/v1";

/// Why a saved batch-size optimizer was rejected.
pub type FormatError = crate::formats::FormatError<ZeusError>;

/// A recurring job's batch-size optimizer and how its reports are priced: the cost of a
/// recurrence's attempt is `η·E + (1−η)·max_power_w·T`, `max_power_w` the maximum power limit
/// of the job's GPUs times their count (the reference's `max_power`).
#[derive(Debug, Clone, PartialEq)]
pub struct BsoJob {
    /// The energy/time trade-off.
    pub eta: Eta,
    /// The power that prices time, W (positive, finite).
    pub max_power_w: f64,
    /// The optimizer.
    pub optimizer: BatchSizeOptimizer,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    schema: String,
    eta: f64,
    max_power_w: f64,
    optimizer: BatchSizeOptimizer,
}

impl BsoJob {
    /// A job, or why `max_power_w` is unusable.
    pub fn new(
        eta: Eta,
        max_power_w: f64,
        optimizer: BatchSizeOptimizer,
    ) -> Result<Self, ZeusError> {
        if !(max_power_w.is_finite() && max_power_w > 0.0) {
            return Err(ZeusError::BadParameter {
                name: "max_power_w",
                value: max_power_w,
            });
        }
        Ok(Self {
            eta,
            max_power_w,
            optimizer,
        })
    }

    /// The cost of an attempt that took `time_s` and `energy_j`, J.
    pub fn cost(&self, time_s: f64, energy_j: f64) -> f64 {
        zeus_cost(energy_j, time_s, self.eta, self.max_power_w)
    }

    /// Reads a `zeus-bso-state/v1` document; its parameters are checked as
    /// [`BatchSizeOptimizer::new`] checks them.
    pub fn from_json(text: &str) -> Result<Self, FormatError> {
        let doc: Doc = parse_document(text, BSO_STATE_SCHEMA)?;
        let eta = Eta::new(doc.eta).map_err(|e| FormatError::field("eta", e.to_string()))?;
        // The saved parameters must be ones a new optimizer accepts.
        BatchSizeOptimizer::new(doc.optimizer.params().clone())?;
        Ok(Self::new(eta, doc.max_power_w, doc.optimizer)?)
    }

    /// The job as a `zeus-bso-state/v1` document.
    pub fn to_json(&self) -> String {
        to_json(&Doc {
            schema: BSO_STATE_SCHEMA.into(),
            eta: self.eta.get(),
            max_power_w: self.max_power_w,
            optimizer: self.optimizer.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::zeus::BsoParams;

    #[test]
    fn round_trips_and_resumes_identically() {
        let params = BsoParams::new(vec![8, 16, 32, 64], 32);
        let mut job = BsoJob::new(
            Eta::new(0.5).unwrap(),
            300.0,
            BatchSizeOptimizer::new(params).unwrap(),
        )
        .unwrap();
        // 0.5·1000 + 0.5·300·10 = 2000 J.
        assert_eq!(job.cost(10.0, 1000.0), 2000.0);
        let cost = |b: u32| f64::from(b) * 10.0 + 100.0;
        let mut twin = job.clone();
        for _ in 0..12 {
            // Each recurrence from the saved text, as a new process would.
            let mut resumed = BsoJob::from_json(&job.to_json()).unwrap();
            assert_eq!(resumed, job);
            let b = resumed.optimizer.next_batch_size().unwrap();
            resumed.optimizer.report(b, cost(b), true).unwrap();
            let t = twin.optimizer.next_batch_size().unwrap();
            twin.optimizer.report(t, cost(t), true).unwrap();
            assert_eq!(b, t);
            job = resumed;
        }
    }

    #[test]
    fn bad_documents_are_named() {
        let other = BsoJob::from_json("{\"schema\":\"zeus-sim/v1\"}").unwrap_err();
        assert_eq!(
            other.to_string(),
            "expected schema \"zeus-bso-state/v1\", found \"zeus-sim/v1\""
        );
        let job = BsoJob::new(
            Eta::DEFAULT,
            300.0,
            BatchSizeOptimizer::new(BsoParams::new(vec![8, 16], 8)).unwrap(),
        )
        .unwrap();
        let bad_eta = job.to_json().replace("\"eta\":0.5", "\"eta\":1.5");
        assert_eq!(
            BsoJob::from_json(&bad_eta).unwrap_err().to_string(),
            "field `eta`: eta must be a number in [0, 1], got 1.5"
        );
        let bad_default = job
            .to_json()
            .replace("\"default_batch_size\":8", "\"default_batch_size\":9");
        assert!(
            BsoJob::from_json(&bad_default)
                .unwrap_err()
                .to_string()
                .contains("default batch size 9")
        );
        assert!(BsoJob::new(Eta::DEFAULT, 0.0, job.optimizer.clone()).is_err());
    }
}
