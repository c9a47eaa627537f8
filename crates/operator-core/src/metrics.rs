//! Prometheus metrics: reconciles by kind, and AWS calls by service, operation and outcome so that
//! "zero writes in steady state" is observable.

use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::aws::is_read_operation;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    pub service: String,
    pub operation: String,
    /// "read" or "write".
    pub access: String,
    /// "success" or "error".
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub service: String,
    pub region: String,
    pub account: String,
}

impl From<&crate::limits::Scope> for ServiceLabels {
    fn from(scope: &crate::limits::Scope) -> Self {
        Self {
            service: scope.service.clone(),
            region: scope.region.clone(),
            account: scope.account.clone(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub service: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FieldLabels {
    pub kind: String,
    pub field: String,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    drift_corrections: Family<FieldLabels, Counter>,
    update_loops: Family<FieldLabels, Counter>,
    aws_rate_limit: Family<ServiceLabels, Gauge>,
    aws_waiting: Family<ServiceLabels, Gauge>,
    aws_throttled: Family<OperationLabels, Counter>,
    registry: Arc<Mutex<Registry>>,
    reconciles: Family<KindLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Family<KindLabels, Histogram>,
    aws_calls: Family<AwsCallLabels, Counter>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        let mut registry = Registry::with_prefix("aso");
        registry.register("reconciles", "Reconciles run, by kind", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by kind and error",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles, by kind",
            reconcile_duration.clone(),
        );
        registry.register(
            "aws_calls",
            "AWS API calls, by service, operation, access (read/write) and outcome",
            aws_calls.clone(),
        );
        let aws_rate_limit = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "aws_rate_limit",
            "Calls per second the client-side limiter lets through now, by service, region and account",
            aws_rate_limit.clone(),
        );
        let aws_waiting = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "aws_calls_waiting",
            "AWS call attempts waiting on the client-side limiter, by service, region and account",
            aws_waiting.clone(),
        );
        let aws_throttled = Family::<OperationLabels, Counter>::default();
        registry.register(
            "aws_throttled",
            "AWS call attempts answered with a throttling error, by service and operation",
            aws_throttled.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this process reconciles (holds the lease, or runs without leader election)",
            leader.clone(),
        );
        let drift_corrections = Family::<FieldLabels, Counter>::default();
        registry.register(
            "drift_corrections",
            "Fields put back in AWS after a change outside the spec, by kind and field",
            drift_corrections.clone(),
        );
        let update_loops = Family::<FieldLabels, Counter>::default();
        registry.register(
            "update_loops",
            "Resources no longer written because AWS did not keep what was written, by kind and field",
            update_loops.clone(),
        );
        Self {
            drift_corrections,
            update_loops,
            aws_rate_limit,
            aws_waiting,
            aws_throttled,
            leader,
            registry: Arc::new(Mutex::new(registry)),
            reconciles,
            reconcile_errors,
            reconcile_duration,
            aws_calls,
        }
    }
}

impl Metrics {
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn aws_call(&self, service: &str, operation: &str, ok: bool) {
        let access = if is_read_operation(operation) {
            "read"
        } else {
            "write"
        };
        self.aws_calls
            .get_or_create(&AwsCallLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
                access: access.to_owned(),
                outcome: if ok { "success" } else { "error" }.to_owned(),
            })
            .inc();
    }

    pub fn set_aws_rate_limit(&self, scope: &crate::limits::Scope, per_second: u32) {
        self.aws_rate_limit
            .get_or_create(&scope.into())
            .set(i64::from(per_second));
    }

    /// Counts an attempt waiting on the limiter until the guard is dropped.
    pub fn aws_call_waiting(&self, scope: &crate::limits::Scope) -> WaitingGuard {
        let gauge = self.aws_waiting.get_or_create(&scope.into()).clone();
        gauge.inc();
        WaitingGuard(gauge)
    }

    pub fn aws_throttled(&self, service: &str, operation: &str) {
        self.aws_throttled
            .get_or_create(&OperationLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
            })
            .inc();
    }

    /// Starts timing one reconcile; the returned guard records it when dropped.
    pub fn reconcile(&self, kind: &str) -> ReconcileTimer {
        let labels = KindLabels {
            kind: kind.to_owned(),
        };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            histogram: self.reconcile_duration.get_or_create(&labels).clone(),
            start: std::time::Instant::now(),
        }
    }

    pub fn reconcile_error(&self, kind: &str, error: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_owned(),
                error: error.to_owned(),
            })
            .inc();
    }

    pub fn drift_corrected(&self, kind: &str, field: &str) {
        self.drift_corrections
            .get_or_create(&FieldLabels {
                kind: kind.to_owned(),
                field: field.to_owned(),
            })
            .inc();
    }

    pub fn update_loop(&self, kind: &str, field: &str) {
        self.update_loops
            .get_or_create(&FieldLabels {
                kind: kind.to_owned(),
                field: field.to_owned(),
            })
            .inc();
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry poisoned");
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

pub struct ReconcileTimer {
    histogram: Histogram,
    start: std::time::Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Keeps an attempt counted as waiting on the limiter.
pub struct WaitingGuard(Gauge);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_calls_are_labelled_read_or_write() {
        let m = Metrics::default();
        m.aws_call("DynamoDB", "DescribeTable", true);
        m.aws_call("DynamoDB", "UpdateTable", false);
        let text = m.encode();
        assert!(text.contains(r#"aso_aws_calls_total{service="DynamoDB",operation="DescribeTable",access="read",outcome="success"} 1"#), "{text}");
        assert!(text.contains(r#"aso_aws_calls_total{service="DynamoDB",operation="UpdateTable",access="write",outcome="error"} 1"#), "{text}");
    }
}
