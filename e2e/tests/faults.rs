//! AWS misbehaving, through the fault proxy (e2e/src/fault.rs) between the operator and moto:
//! a throttling storm answered with each service's own throttling error, and an outage. Run by
//! `just test` against the local control plane and moto.

use std::time::{Duration, Instant};

use e2e::{
    Aws, Operator, Resources, condition, doc, env,
    fault::{Fault, FaultProxy, moto_url},
    install_crds, kubectl, kubectl_apply, namespace, wait_until,
};
use sqs_controller::SQSQueue;

fn operator_through(proxy: &FaultProxy, ns: &str) -> Operator {
    Operator::start_with_env(
        &e2e::binary("aws-service-operator"),
        ns,
        &[],
        &[("AWS_ENDPOINT_URL", proxy.url.as_str())],
    )
}

/// Half of all calls throttled for 60 s, with each service's own error, while 100 queues, 20
/// topics and a few of every other kind are created: nothing ends Terminal, everything is Ready
/// soon after the storm, nothing is created twice, the operator counted the throttling by
/// service, and its limiter's rate dropped during the storm and climbed back after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_delays_but_never_fails_anything() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "faults-throttle", &[]).await;
    let aws = Aws::new(&env.aws);
    let proxy = FaultProxy::start(&moto_url()).await;
    let op = operator_through(&proxy, &ns);
    proxy.set(Fault::Throttle(0.5));
    let storm = Instant::now();

    let mut manifest = String::new();
    for i in 0..100 {
        manifest += &doc("SQSQueue", &format!("{ns}-q{i}"), "");
    }
    for i in 0..20 {
        manifest += &doc("SNSTopic", &format!("{ns}-t{i}"), "");
    }
    for i in 0..3 {
        manifest += &doc(
            "SNSSubscription",
            &format!("s{i}"),
            &format!("spec:\n  topicName: {ns}-t{i}\n  protocol: sqs\n  endpoint: {ns}-q{i}\n"),
        );
        manifest += &doc("S3Bucket", &format!("{ns}-b{i}"), "");
    }
    manifest += &doc(
        "DynamoDB",
        &format!("{ns}-table"),
        "spec:\n  hashAttribute:\n    name: id\n    type: S\n  billingMode: PAY_PER_REQUEST\n",
    );
    manifest += &doc("ECRRepository", &format!("{ns}-repo"), "");
    let (ok, err) = kubectl_apply(&ns, &manifest);
    assert!(ok, "{err}");

    // Throughout the storm: never Terminal, and the limiter slows down.
    let mut seen_terminal = Vec::new();
    let mut lowest_sqs_rate = i64::MAX;
    while storm.elapsed() < Duration::from_secs(60) {
        lowest_sqs_rate = lowest_sqs_rate.min(sqs_rate_limit(&op).unwrap_or(i64::MAX));
        let text = kubectl(&[
            "-n",
            &ns,
            "get",
            "sqsqueues,snstopics,snssubscriptions,s3buckets,dynamodbs,ecrrepositories",
            "-o",
            "json",
        ]);
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        for item in list["items"].as_array().unwrap() {
            if let Some(c) = condition(item, "Terminal").filter(|c| c.status == "True") {
                let seen = format!("{}: {} {}", item["metadata"]["name"], c.reason, c.message);
                if !seen_terminal.contains(&seen) {
                    seen_terminal.push(seen);
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    proxy.set(Fault::None);
    assert!(
        proxy.throttled() > 20,
        "the proxy throttled only {} requests",
        proxy.throttled()
    );
    assert!(
        seen_terminal.is_empty(),
        "Terminal during the storm: {seen_terminal:?}"
    );
    println!("storm: the SQS limiter went down to {lowest_sqs_rate} calls/s (configured 100)");
    assert!(
        lowest_sqs_rate < 50,
        "the SQS limiter stayed at {lowest_sqs_rate} calls/s"
    );

    // Within 60 s of the storm's end, everything is Ready.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready_within = |kind: &'static str| {
        let ns = ns.clone();
        async move {
            wait_until(
                deadline.saturating_duration_since(Instant::now()),
                || async { e2e::all_ready(&ns, kind) },
            )
            .await
            .is_some()
        }
    };
    for kind in [
        "sqsqueues",
        "snstopics",
        "snssubscriptions",
        "s3buckets",
        "dynamodbs",
        "ecrrepositories",
    ] {
        assert!(
            ready_within(kind).await,
            "{kind} not all Ready 60 s after the storm\n{}",
            op.log_tail()
        );
    }

    println!(
        "storm: everything Ready {:.1} s after the storm",
        storm.elapsed().as_secs_f64() - 60.0
    );

    // Nothing twice.
    assert_eq!(aws.queue_urls(&ns).await.len(), 100);
    assert_eq!(aws.topic_arns(&ns).await.len(), 20);
    for i in 0..3 {
        let arn = &aws.topic_arns(&format!("{ns}-t{i}")).await[0];
        assert_eq!(aws.subscriptions(arn).await.len(), 1, "{arn}");
    }
    assert_eq!(aws.buckets(&ns).await.len(), 3);

    // The operator saw the throttling, by service.
    let metrics = op.metrics();
    for service in ["SQS", "SNS", "S3", "DynamoDB", "ECR"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("aso_aws_throttled_total{")
                    && l.contains(&format!("service=\"{service}\""))),
            "no throttling counted for {service}:\n{}",
            metrics
                .lines()
                .filter(|l| l.starts_with("aso_aws_throttled"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // The limiter climbs back to its configured rate once AWS stops throttling.
    let recovered = wait_until(Duration::from_secs(30), || async {
        (sqs_rate_limit(&op) == Some(100)).then_some(())
    })
    .await;
    assert!(
        recovered.is_some(),
        "the SQS limiter is at {:?} calls/s 30 s after the storm",
        sqs_rate_limit(&op)
    );

    kubectl(&[
        "-n",
        &ns,
        "delete",
        "sqsqueues,snstopics,snssubscriptions,s3buckets,dynamodbs,ecrrepositories",
        "--all",
        "--wait=false",
    ]);
}

/// The SQS limiter's current rate, from the operator's metrics.
fn sqs_rate_limit(op: &Operator) -> Option<i64> {
    op.metrics()
        .lines()
        .find(|l| l.starts_with("aso_aws_rate_limit{") && l.contains("service=\"sqs\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every call hangs (read, never answered): the attempt timeout cuts each one, the resource
/// says why it is not Ready and is retried, and once AWS answers again it becomes Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_hangs_times_out_and_is_retried() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "faults-hang", &[]).await;
    let proxy = FaultProxy::start(&moto_url()).await;
    proxy.set(Fault::Hang);
    let op = Operator::start_with_env(
        &e2e::binary("aws-service-operator"),
        &ns,
        &[
            "--aws-attempt-timeout",
            "1s",
            "--aws-operation-timeout",
            "3s",
        ],
        &[("AWS_ENDPOINT_URL", proxy.url.as_str())],
    );
    let (ok, err) = kubectl_apply(&ns, &doc("SQSQueue", &format!("{ns}-q"), ""));
    assert!(ok, "{err}");
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let said = wait_until(Duration::from_secs(30), || async {
        let q = queues.api.get(&format!("{ns}-q")).await.ok()?;
        condition(&q, "Ready").filter(|c| c.status == "False" && c.reason == "SyncFailed")
    })
    .await
    .unwrap_or_else(|| panic!("no SyncFailed while every call hangs\n{}", op.log_tail()));
    println!("hang: {}", said.message);
    assert!(
        said.message.to_lowercase().contains("timeout") || said.message.contains("timed out"),
        "{}",
        said.message
    );
    // Retried: more hung requests reach the proxy as time goes on.
    let before = proxy.requests();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        proxy.requests() > before,
        "no retry within 10 s of a timed-out call"
    );
    proxy.set(Fault::None);
    let ready = wait_until(Duration::from_secs(60), || async {
        let q = queues.api.get(&format!("{ns}-q")).await.ok()?;
        condition(&q, "Ready").filter(|c| c.status == "True")
    })
    .await;
    assert!(
        ready.is_some(),
        "not Ready 60 s after the hang ended\n{}",
        op.log_tail()
    );
    kubectl(&["-n", &ns, "delete", "sqsqueues", "--all", "--wait=false"]);
}

/// AWS unreachable for 30 s (connections reset) while 20 queues are created: they say why they
/// are not Ready, the operator's request rate stays bounded, and all are Ready within 60 s of
/// the endpoint's return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_reported_bounded_and_recovered_from() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "faults-outage", &[]).await;
    let proxy = FaultProxy::start(&moto_url()).await;
    let op = operator_through(&proxy, &ns);
    proxy.set(Fault::Outage);
    let before = proxy.requests();
    let start = Instant::now();
    let mut manifest = String::new();
    for i in 0..20 {
        manifest += &doc("SQSQueue", &format!("{ns}-q{i}"), "");
    }
    let (ok, err) = kubectl_apply(&ns, &manifest);
    assert!(ok, "{err}");
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let reported = wait_until(Duration::from_secs(20), || async {
        let q = queues.api.get(&format!("{ns}-q0")).await.ok()?;
        condition(&q, "Ready").filter(|c| c.status == "False" && c.reason == "SyncFailed")
    })
    .await;
    let ready = reported.expect("no Ready=False SyncFailed during the outage");
    assert!(!ready.message.is_empty());
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(start.elapsed())).await;
    let rate = (proxy.requests() - before) as f64 / start.elapsed().as_secs_f64();
    println!("outage: {rate:.1} requests/s for 20 queues");
    assert!(rate < 20.0, "{rate:.1} requests/s during the outage");

    proxy.set(Fault::None);
    let back = Instant::now();
    for i in 0..20 {
        let name = format!("{ns}-q{i}");
        let got = wait_until(
            Duration::from_secs(60).saturating_sub(back.elapsed()),
            || async {
                let q = queues.api.get(&name).await.ok()?;
                condition(&q, "Ready").filter(|c| c.status == "True")
            },
        )
        .await;
        assert!(
            got.is_some(),
            "{name} not Ready 60 s after the outage\n{}",
            op.log_tail()
        );
    }
    println!(
        "outage: all Ready {:.1} s after recovery",
        back.elapsed().as_secs_f64()
    );
    kubectl(&["-n", &ns, "delete", "sqsqueues", "--all", "--wait=false"]);
}
