//! A client-side limit measured where AWS would count it: the fault proxy (passing everything
//! through) records when each call arrives. Alone in its test binary, so that no other test's
//! load skews the arrival times. Run by `just test`.

use std::time::{Duration, Instant};

use e2e::{
    Aws, Operator, doc, env,
    fault::{FaultProxy, moto_url},
    install_crds, kubectl, kubectl_apply, namespace, wait_until,
};

/// With `--aws-max-tps sqs=20/1`, creating 200 queues never sends more than 20 SQS calls in
/// any one second, as the proxy counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_limit_of_20_per_second_holds_for_200_queues() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "faults-tps", &[]).await;
    let aws = Aws::new(&env.aws);
    let proxy = FaultProxy::start(&moto_url()).await;
    let op = Operator::start_with_env(
        &e2e::binary("aws-service-operator"),
        &ns,
        &["--aws-max-tps", "sqs=20/1", "--concurrency", "32"],
        &[("AWS_ENDPOINT_URL", proxy.url.as_str())],
    );
    let start = Instant::now();
    let mut manifest = String::new();
    for i in 0..200 {
        manifest += &doc("SQSQueue", &format!("{ns}-q{i}"), "");
    }
    let (ok, err) = kubectl_apply(&ns, &manifest);
    assert!(ok, "{err}");
    let all_ready = wait_until(Duration::from_secs(180), || async {
        (e2e::all_ready(&ns, "sqsqueues") == Some(200)).then_some(())
    })
    .await;
    assert!(
        all_ready.is_some(),
        "200 queues not Ready in 180 s\n{}",
        op.log_tail()
    );
    let (calls, most) = (proxy.requests_for("sqs"), proxy.max_per_second("sqs"));
    println!(
        "tps: {calls} SQS calls for 200 queues in {:.1} s, at most {most} in any second",
        start.elapsed().as_secs_f64()
    );
    assert!(
        calls >= 400,
        "only {calls} SQS calls went through the proxy"
    );
    assert!(most <= 20, "{most} SQS calls within one second");
    assert_eq!(aws.queue_urls(&format!("{ns}-q")).await.len(), 200);
    kubectl(&["-n", &ns, "delete", "sqsqueues", "--all", "--wait=false"]);
}
