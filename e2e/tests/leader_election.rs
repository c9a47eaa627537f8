//! Leader election: with two replicas only the Lease holder reconciles, and a standby takes over
//! when the leader goes away.

use std::time::Duration;

use dynamodb_controller::DynamoDB;
use e2e::{
    Aws, Operator, Resources, env, install_crds, is_ready, kubectl, namespace, wait_for, wait_until,
};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use s3_controller::S3Bucket;
use serde_json::json;
use sns_controller::{SNSSubscription, SNSTopic};
use sqs_controller::SQSQueue;

fn table(ns: &str, name: &str) -> DynamoDB {
    serde_json::from_value(json!({
        "apiVersion": "service-operator.aws/v1alpha1",
        "kind": "DynamoDB",
        "metadata": {"name": name},
        "spec": {
            "tableName": format!("{ns}-{name}"),
            "hashAttribute": {"name": "id", "type": "S"},
            "billingMode": "PAY_PER_REQUEST",
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "leader-election", &[]).await;
    let api: Api<DynamoDB> = Api::namespaced(env.kube.clone(), &ns);
    let args = [
        "--leader-election",
        "--leader-election-namespace",
        ns.as_str(),
        "--leader-election-id",
        "dynamodb-controller",
        "--leader-election-lease-duration",
        "4s",
    ];
    let first = Operator::start_binary("dynamodb-controller", &ns, &args);
    let second = Operator::start_binary("dynamodb-controller", &ns, &args);
    let elected = wait_until(Duration::from_secs(20), || async {
        (first.is_leader() != second.is_leader()).then_some(())
    })
    .await;
    assert!(
        elected.is_some(),
        "expected exactly one leader: {} / {}",
        first.is_leader(),
        second.is_leader()
    );
    let (leader, standby) = if first.is_leader() {
        (first, second)
    } else {
        (second, first)
    };

    api.create(&PostParams::default(), &table(&ns, "one"))
        .await
        .unwrap();
    wait_for(&api, "one", Duration::from_secs(60), "Ready", is_ready).await;
    assert!(leader.aws_calls("write") > 0, "the leader created nothing");
    // Its only AWS call is the start-up identity lookup (sts:GetCallerIdentity).
    assert_eq!(standby.aws_calls("write"), 0, "the standby wrote to AWS");
    assert!(
        !standby.metrics().contains("service=\"DynamoDB\""),
        "the standby called DynamoDB:\n{}",
        standby.metrics()
    );
    assert!(!standby.is_leader());

    // The leader goes away without releasing its lease; the standby takes over within its duration.
    drop(leader);
    let took_over = wait_until(Duration::from_secs(20), || async {
        standby.is_leader().then_some(())
    })
    .await;
    assert!(took_over.is_some(), "the standby never took over");
    api.create(&PostParams::default(), &table(&ns, "two"))
        .await
        .unwrap();
    wait_for(&api, "two", Duration::from_secs(60), "Ready", is_ready).await;
    assert!(standby.aws_calls("write") > 0);

    for name in ["one", "two"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    e2e::wait_gone(&api, "one", Duration::from_secs(60)).await;
    e2e::wait_gone(&api, "two", Duration::from_secs(60)).await;
}

/// Two all-in-one replicas; the leader dies (at a named point: right after its first Subscribe,
/// with other creates in flight) mid-convergence of a mixed set. The standby takes over and
/// finishes: every resource Ready, none NotOwned or Terminal, exactly one AWS resource each; and
/// deleting everything leaves nothing in AWS.
#[tokio::test]
async fn the_leader_killed_mid_convergence_loses_and_duplicates_nothing() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "leader-kill", &[]).await;
    let aws = Aws::new(&env.aws);
    let args = [
        "--leader-election",
        "--leader-election-namespace",
        ns.as_str(),
        "--leader-election-id",
        "aws-service-operator",
        "--leader-election-lease-duration",
        "4s",
    ];
    let bin = e2e::binary("aws-service-operator");
    let mut leader =
        Operator::start_with_env(&bin, &ns, &args, &[("ASO_TEST_ABORT_AFTER", "Subscribe")]);
    let elected = wait_until(Duration::from_secs(20), || async {
        leader.is_leader().then_some(())
    })
    .await;
    assert!(elected.is_some(), "the first replica never led");
    let standby = Operator::start_path(&bin, &ns, &args);
    assert!(!standby.is_leader());

    // 4 topics, 8 queues, 8 subscriptions (queue i to topic i % 4), 4 buckets.
    let mut docs = Vec::new();
    for t in 0..4 {
        docs.push(format!("kind: SNSTopic\nmetadata:\n  name: {ns}-t{t}\n"));
        docs.push(format!("kind: S3Bucket\nmetadata:\n  name: {ns}-b{t}\n"));
    }
    for q in 0..8 {
        docs.push(format!("kind: SQSQueue\nmetadata:\n  name: {ns}-q{q}\n"));
        docs.push(format!(
            "kind: SNSSubscription\nmetadata:\n  name: s{q}\nspec:\n  topicName: {ns}-t{}\n  protocol: sqs\n  endpoint: {ns}-q{q}\n",
            q % 4
        ));
    }
    let manifest = docs
        .iter()
        .map(|d| format!("apiVersion: service-operator.aws/v1alpha1\n{d}"))
        .collect::<Vec<_>>()
        .join("---\n");
    let (ok, err) = e2e::kubectl_apply(&ns, &manifest);
    assert!(ok, "{err}");
    let exit = leader.wait_exit(Duration::from_secs(60));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "the leader did not die after Subscribe: {exit:?}\n{}",
        leader.log_tail()
    );
    drop(leader);
    let took_over = wait_until(Duration::from_secs(20), || async {
        standby.is_leader().then_some(())
    })
    .await;
    assert!(took_over.is_some(), "the standby never took over");

    let topics = Resources::<SNSTopic>::new(&env.kube, &ns);
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let subs = Resources::<SNSSubscription>::new(&env.kube, &ns);
    let buckets = Resources::<S3Bucket>::new(&env.kube, &ns);
    let mut statuses = Vec::new();
    for t in 0..4 {
        statuses
            .push(serde_json::to_value(topics.wait_ready(&format!("{ns}-t{t}")).await).unwrap());
        statuses
            .push(serde_json::to_value(buckets.wait_ready(&format!("{ns}-b{t}")).await).unwrap());
    }
    let mut sub_arns = Vec::new();
    for q in 0..8 {
        statuses
            .push(serde_json::to_value(queues.wait_ready(&format!("{ns}-q{q}")).await).unwrap());
        let sub = subs.wait_ready(&format!("s{q}")).await;
        sub_arns.push(sub.status.as_ref().and_then(|s| s.arn.clone()).unwrap());
        statuses.push(serde_json::to_value(sub).unwrap());
    }
    for status in &statuses {
        let text = status.to_string();
        assert!(
            !text.contains("NotOwned") && !text.contains("\"Terminal\""),
            "{text}"
        );
    }

    // Exactly one AWS resource each, and each subscription the one its status records.
    assert_eq!(aws.topic_arns(&ns).await.len(), 4);
    assert_eq!(
        aws.queue_urls(&ns).await.len(),
        8,
        "{:?}",
        aws.queue_urls(&ns).await
    );
    assert_eq!(aws.buckets(&ns).await.len(), 4);
    let mut listed = Vec::new();
    for arn in aws.topic_arns(&ns).await {
        listed.extend(
            aws.subscriptions(&arn)
                .await
                .into_iter()
                .map(|(arn, _)| arn),
        );
    }
    listed.sort();
    sub_arns.sort();
    assert_eq!(listed, sub_arns, "subscriptions in AWS vs in status");

    kubectl(&[
        "-n",
        &ns,
        "delete",
        "--wait=false",
        "snssubscriptions,sqsqueues,snstopics,s3buckets",
        "--all",
    ]);
    let empty = wait_until(Duration::from_secs(90), || async {
        (aws.topic_arns(&ns).await.is_empty()
            && aws.queue_urls(&ns).await.is_empty()
            && aws.buckets(&ns).await.is_empty())
        .then_some(())
    })
    .await;
    assert!(
        empty.is_some(),
        "left in AWS: topics {:?}, queues {:?}, buckets {:?}",
        aws.topic_arns(&ns).await,
        aws.queue_urls(&ns).await,
        aws.buckets(&ns).await
    );
}
