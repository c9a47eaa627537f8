//! `just bench-memory`: the bytes each of the operator's per-resource structures holds, measured
//! with jemalloc's counters over 20,000 SQS queues shaped as the API server returns them. A
//! second or two, no cluster: the quick companion of `just bench`, which measures the process.
use std::{collections::BTreeMap, hint::black_box, time::Duration};

use futures::{FutureExt, StreamExt};
use kube::runtime::{
    controller::{ReconcileReason, ReconcileRequest},
    reflector::{self, ObjectRef, Store},
    scheduler::{ScheduleRequest, scheduler},
    watcher::Event,
};
use operator_core::{
    conditions,
    gate::Gate,
    outputs,
    reconciler::cache_view,
    references::{RefIndex, RefObject},
};
use serde_json::{Value, json};
use sqs_controller::SQSQueue;
use tikv_jemalloc_ctl::{epoch, stats};

const N: usize = 20_000;

fn allocated() -> usize {
    epoch::advance().expect("jemalloc epoch");
    stats::allocated::read().expect("jemalloc stats")
}

/// Prints the bytes per resource that `f` allocated and still holds.
fn per_resource<T>(what: &str, f: impl FnOnce() -> T) {
    let before = allocated();
    let kept = black_box(f());
    println!("{what:<62} {:>6} bytes", (allocated() - before) / N);
    drop(kept);
}

/// A Ready queue as the watch delivers it.
fn queue(i: usize) -> Value {
    json!({
        "apiVersion": "service-operator.aws/v1alpha1", "kind": "SQSQueue",
        "metadata": {
            "name": format!("bench-q{i}-0"), "namespace": "bench-1764128000",
            "uid": format!("6f1c2b7e-1d2a-4c3b-9e8f-{i:012}"), "resourceVersion": format!("{}", 100_000 + i),
            "generation": 1, "creationTimestamp": "2026-11-26T03:31:12Z",
            "finalizers": ["service-operator.aws/finalizer"],
        },
        "spec": {"contentBasedDeduplication": true, "delaySeconds": 5, "maximumMessageSize": 262_144,
                 "messageRetentionPeriod": 345_600, "receiveMessageWaitTimeSeconds": 0, "visibilityTimeout": 5,
                 "fifoQueue": false, "usedeadletterQueue": false},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Available", "message": "sqs is available", "lastTransitionTime": "2026-11-26T03:31:13Z"},
                {"type": "Synced", "status": "True", "reason": "Synced", "message": "AWS matches the spec", "lastTransitionTime": "2026-11-26T03:31:13Z"}
            ],
            "observedGeneration": 1,
            "arn": format!("arn:aws:sqs:us-east-1:123456789012:bench-q{i}-0"),
            "queueName": format!("bench-q{i}-0"),
            "queueURL": format!("http://127.0.0.1:45123/123456789012/bench-q{i}-0"),
        }
    })
}

fn cached(events: impl Iterator<Item = Event<SQSQueue>>) -> Store<SQSQueue> {
    let (reader, mut writer) = reflector::store();
    for event in events {
        writer.apply_watcher_event(&event);
    }
    reader
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let json: Vec<Value> = (0..N).map(queue).collect();
    let queues: Vec<SQSQueue> = json
        .iter()
        .map(|v| serde_json::from_value(v.clone()).expect("an SQSQueue"))
        .collect();

    per_resource("watch cache entry as the API server sends it", || {
        cached(queues.iter().cloned().map(Event::Apply))
    });
    per_resource(
        "watch cache entry as the operator keeps it, with its memo",
        || {
            let memo = conditions::Memo::default();
            let (gate, admitted) = Gate::new(1);
            let store = cached(
                queues
                    .iter()
                    .cloned()
                    .map(|q| cache_view(Event::Apply(q), &memo, &gate)),
            );
            (store, memo, gate, admitted)
        },
    );
    per_resource("  of which the conditions memo", || {
        let memo = conditions::Memo::default();
        for (i, q) in queues.iter().enumerate() {
            memo.record(i as u64, &q.status.as_ref().expect("status").conditions);
        }
        memo
    });
    per_resource("reference index entry (a dependent kind's view)", || {
        let index = RefIndex::default();
        for v in &json {
            let obj: RefObject = serde_json::from_value(v.clone()).expect("a RefObject");
            index.observe(&Event::Apply(obj));
        }
        index
    });
    per_resource("outputs ConfigMap fingerprint", || {
        let fingerprints = outputs::Fingerprints::of::<SQSQueue>();
        for q in &queues {
            let data = BTreeMap::from([("queueURL".to_owned(), "http://127.0.0.1/q".to_owned())]);
            fingerprints.observe(&Event::Apply(outputs::config_map(q, data)));
        }
        fingerprints
    });
    per_resource("kube-runtime scheduler entry (a queued reconcile)", || {
        let requests: Vec<_> = queues
            .iter()
            .map(|q| ScheduleRequest {
                message: ReconcileRequest {
                    obj_ref: ObjectRef::from_obj(q),
                    reason: ReconcileReason::ObjectUpdated,
                },
                run_at: tokio::time::Instant::now() + Duration::from_secs(60),
            })
            .collect();
        // Through a channel, whose nodes are freed as the scheduler takes the requests.
        let (tx, rx) = futures::channel::mpsc::unbounded();
        for request in requests {
            tx.unbounded_send(request).expect("open");
        }
        let mut scheduler = Box::pin(scheduler(rx));
        // One poll takes in every request.
        let _ = scheduler.next().now_or_never();
        (scheduler, tx)
    });
    per_resource("waiting in the gate instead", || {
        let (gate, admitted) = Gate::<SQSQueue>::new(1);
        for q in &queues {
            gate.admit(q);
        }
        (gate, admitted)
    });
}
