//! The commands beside `run`: `plan -f` (what applying a manifest would do in AWS, computed by
//! the core's own diff, with no write) and `export` (manifests for what exists in AWS, which
//! `kubectl apply` takes under management with no write beyond the ownership tags). Run by
//! `just test` against the local control plane and moto.

use std::{collections::BTreeSet, process::Command, time::Duration};

use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{
    Aws, Operator, Resources, all_ready, doc, env,
    fault::{FaultProxy, moto_url},
    install_crds, kubectl_apply, namespace, wait_until,
};
use serde_json::json;
use sqs_controller::SQSQueue;

/// Runs the all-in-one binary's command with AWS at `endpoint`; (stdout, stderr).
fn run(endpoint: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(e2e::binary("aws-service-operator"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?} failed\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Operations that change something, among those the proxy saw.
fn writes(operations: &[String]) -> Vec<&String> {
    operations
        .iter()
        .filter(|o| !operator_core::aws::is_read_operation(o))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_tells_create_update_and_not_ours_and_writes_nothing() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "plan", &[]).await;
    let aws = Aws::new(&env.aws);
    let op = Operator::start(&ns, &[]);
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let (new, changed, foreign) = (
        format!("{ns}-new"),
        format!("{ns}-changed"),
        format!("{ns}-foreign"),
    );
    queues
        .create(&changed, json!({"visibilityTimeout": 30}), json!({}))
        .await;
    queues.wait_ready(&changed).await;
    aws.sqs
        .create_queue()
        .queue_name(&foreign)
        .send()
        .await
        .unwrap();
    drop(op);

    let manifest = [
        doc("SQSQueue", &new, ""),
        doc("SQSQueue", &changed, "spec:\n  visibilityTimeout: 45\n"),
        doc("SQSQueue", &foreign, ""),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n".to_owned(),
    ]
    .join("")
    .replace("metadata:\n", &format!("metadata:\n  namespace: {ns}\n"));
    let file = std::env::temp_dir().join(format!("{ns}-plan.yaml"));
    std::fs::write(&file, manifest).unwrap();
    let proxy = FaultProxy::start(&moto_url()).await;
    let (stdout, stderr) = tokio::task::spawn_blocking({
        let (url, file) = (proxy.url.clone(), file.display().to_string());
        move || run(&url, &["plan", "-f", &file])
    })
    .await
    .unwrap();
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("/{name}:")))
            .unwrap_or_else(|| panic!("no line for {name}\n{stdout}\n{stderr}"))
            .to_owned()
    };
    assert!(
        line(&new).ends_with(&format!(": create SQS queue {new:?}")),
        "{stdout}"
    );
    assert!(
        line(&changed).ends_with(": update visibilityTimeout (AWS 30, spec 45)"),
        "{stdout}"
    );
    assert!(line(&foreign).contains(": not ours: "), "{stdout}");
    assert!(
        stdout.contains("Deployment app: not an AWS kind"),
        "{stdout}"
    );
    let operations = proxy.operations();
    assert!(!operations.is_empty(), "plan did not read AWS");
    assert_eq!(writes(&operations), Vec::<&String>::new(), "{operations:?}");
    assert!(aws.queues_named(&new).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_account_is_taken_under_management_with_only_tag_writes() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "export", &[]).await;
    let aws = Aws::new(&env.aws);
    let op = Operator::start(&ns, &[]);
    // One queue already managed here: skipped and named.
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let managed = format!("{ns}-managed");
    queues.create(&managed, json!({}), json!({})).await;
    queues.wait_ready(&managed).await;

    // 20 queues and 5 topics made outside the operator, with settings of their own.
    let mut first_arn = String::new();
    for i in 0..20 {
        let mut create = aws
            .sqs
            .create_queue()
            .queue_name(format!("{ns}-Q_{i}"))
            .attributes(QueueAttributeName::VisibilityTimeout, (10 + i).to_string())
            .tags("team", format!("t{}", i % 3));
        if i > 0 && i % 5 == 0 {
            create = create.attributes(
                QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": first_arn, "maxReceiveCount": 4}).to_string(),
            );
        }
        let url = create.send().await.unwrap().queue_url.unwrap();
        if i == 0 {
            first_arn = aws
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap()
                .attributes()
                .unwrap()[&QueueAttributeName::QueueArn]
                .clone();
        }
    }
    for i in 0..5 {
        aws.sns
            .create_topic()
            .name(format!("{ns}-topic-{i}"))
            .attributes("DisplayName", format!("Topic {i}"))
            .tags(
                aws_sdk_sns::types::Tag::builder()
                    .key("team")
                    .value("a")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let writes_before = op.aws_calls("write");

    let (manifests, notes) = tokio::task::spawn_blocking({
        let (url, prefix, ns) = (moto_url(), ns.clone(), ns.clone());
        move || {
            run(
                &url,
                &[
                    "export",
                    "--kinds",
                    "sqs,sns",
                    "--prefix",
                    &prefix,
                    "--namespace",
                    &ns,
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        notes.contains(&format!("skipped, managed by SQSQueue {ns}/{managed}")),
        "{notes}"
    );
    assert!(notes.contains("SQSQueue: 20 exported"), "{notes}");
    assert!(notes.contains("SNSTopic: 5 exported"), "{notes}");
    assert!(
        !notes.contains("cannot say"),
        "an exported spec differs:\n{notes}"
    );
    assert!(
        !manifests.contains(&format!("queueName: {managed}")),
        "{manifests}"
    );

    let (ok, err) = kubectl_apply(&ns, &manifests);
    assert!(ok, "{err}\n{manifests}");
    let ready = wait_until(Duration::from_secs(90), || async {
        let queues = all_ready(&ns, "sqsqueues")?;
        let topics = all_ready(&ns, "snstopics")?;
        (queues == 21 && topics == 5).then_some(())
    })
    .await;
    assert!(ready.is_some(), "not all Ready\n{}", op.log_tail());
    // Give the last passes time to write anything they would.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = op.metrics();
    let written: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("aso_aws_calls_total{") && l.contains(r#"access="write""#))
        .filter_map(|l| l.split("operation=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        written.is_subset(&BTreeSet::from(["CreateQueue", "TagQueue", "TagResource"])),
        "writes beyond the tags: {written:?}"
    );
    // CreateQueue was the managed queue's, before the export.
    assert_eq!(op.aws_calls("CreateQueue"), 1);
    assert_eq!(
        op.aws_calls("write") - writes_before,
        25,
        "one tag write per adopted resource\n{metrics}"
    );
    for url in aws.queue_urls(&format!("{ns}-Q_")).await {
        let tags = aws.queue_tags(&url).await;
        assert!(
            tags.contains_key("service-operator.aws/uid"),
            "{url}: {tags:?}"
        );
        assert!(tags.contains_key("team"), "{url}: {tags:?}");
    }
    for arn in aws.topic_arns(&format!("{ns}-topic-")).await {
        let tags = aws.topic_tags(&arn).await;
        assert!(
            tags.contains_key("service-operator.aws/uid"),
            "{arn}: {tags:?}"
        );
    }
}
