//! Leader election: with two replicas only the Lease holder reconciles, and a standby takes over
//! when the leader goes away.

use std::time::Duration;

use dynamodb_controller::DynamoDB;
use e2e::{Operator, env, install_crds, is_ready, namespace, wait_for, wait_until};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use serde_json::json;

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
