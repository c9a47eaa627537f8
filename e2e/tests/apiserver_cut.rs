//! The operator's connections to the API server cut twice for 20 s mid-convergence (a TCP
//! proxy of our own between the two): every resource still becomes Ready, and a spec change
//! made after the cuts reaches AWS through the same process, which stays up with /healthz ok
//! (its watches reconnected; none is taken for wedged). Run by `just test`.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{
    Aws, Operator, Resources, env, fault::TcpCut, install_crds, kubectl_apply, namespace,
    wait_until,
};
use serde_json::json;
use sqs_controller::SQSQueue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_recover_after_the_api_server_connection_is_cut() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "apiserver-cut", &[]).await;
    let aws = Aws::new(&env.aws);

    // A kubeconfig that reaches the API server through the proxy.
    let kubeconfig_path =
        std::env::var("KUBECONFIG").expect("KUBECONFIG: source the env `just up` prints");
    let kubeconfig = std::fs::read_to_string(&kubeconfig_path).unwrap();
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .expect("a server in the kubeconfig")
        .to_owned();
    let proxy = TcpCut::start(server.parse().unwrap()).await;
    let proxied = std::env::temp_dir().join(format!("{ns}.kubeconfig"));
    std::fs::write(
        &proxied,
        kubeconfig.replace(&server, &proxy.addr.to_string()),
    )
    .unwrap();
    let mut op = Operator::start_with_env(
        &e2e::binary("aws-service-operator"),
        &ns,
        &[],
        &[("KUBECONFIG", proxied.to_str().unwrap())],
    );

    let mut manifest = String::new();
    for i in 0..20 {
        manifest += &format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: SQSQueue\nmetadata:\n  name: {ns}-q{i}\n---\n"
        );
    }
    let (ok, err) = kubectl_apply(&ns, &manifest);
    assert!(ok, "{err}");
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_secs(20)).await;
        proxy.restore();
    }

    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    for i in 0..20 {
        let got = wait_until(Duration::from_secs(90), || async {
            let q = queues.api.get(&format!("{ns}-q{i}")).await.ok()?;
            e2e::is_ready(&q).then_some(())
        })
        .await;
        assert!(
            got.is_some(),
            "{ns}-q{i} not Ready after the cuts\n{}",
            op.log_tail()
        );
    }

    // A change made after the cuts reaches AWS.
    queues
        .patch_spec(&format!("{ns}-q0"), json!({"visibilityTimeout": 77}))
        .await;
    let url = aws.queues_named(&format!("{ns}-q0")).await.pop().unwrap();
    let applied = || async {
        let out = aws
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .ok()?;
        (out.attributes()?
            .get(&QueueAttributeName::VisibilityTimeout)?
            == "77")
            .then_some(())
    };
    // The same process applies it: its watches reconnected, and no watch counts as failing
    // (a watch that reconnects sees no event until something changes, so the watch client tells
    // the health check when a watch request is answered again).
    let done = wait_until(Duration::from_secs(60), applied).await;
    assert!(
        done.is_some(),
        "the spec change never reached AWS (exited: {:?}, /healthz {:?})\n{}",
        op.wait_exit(Duration::ZERO),
        e2e::http_status(op.metrics_port(), "/healthz"),
        op.log_tail()
    );
    // Past the watch-failure deadline (60 s) counted from the first cut: still up and healthy.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        op.wait_exit(Duration::ZERO),
        None,
        "the operator exited after the cuts\n{}",
        op.log_tail()
    );
    assert_eq!(
        e2e::http_status(op.metrics_port(), "/healthz"),
        Some(200),
        "{}",
        op.log_tail()
    );
    e2e::kubectl(&["-n", &ns, "delete", "sqsqueues", "--all", "--wait=false"]);
}
