//! What a create costs in AWS calls: the create answers with the resource (its ARN or URL), so
//! it is never looked up again by name, and its tags are those it was created with. Run by
//! `just test` against the local control plane and moto.

use e2e::{Operator, Resources, env, install_crds, kubectl_apply, namespace};
use sns_controller::{SNSSubscription, SNSTopic};
use sqs_controller::SQSQueue;

#[tokio::test]
async fn a_create_is_not_followed_by_a_second_look_up() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "create-calls", &[]).await;
    let op = Operator::start(&ns, &[]);
    let manifest = format!(
        "apiVersion: service-operator.aws/v1alpha1\nkind: SNSTopic\nmetadata:\n  name: {ns}-t\n---\n\
         apiVersion: service-operator.aws/v1alpha1\nkind: SQSQueue\nmetadata:\n  name: {ns}-q\n---\n\
         apiVersion: service-operator.aws/v1alpha1\nkind: SNSSubscription\nmetadata:\n  name: s\n\
         spec:\n  topicName: {ns}-t\n  protocol: sqs\n  endpoint: {ns}-q\n"
    );
    let (ok, err) = kubectl_apply(&ns, &manifest);
    assert!(ok, "{err}");
    Resources::<SNSTopic>::new(&env.kube, &ns)
        .wait_ready(&format!("{ns}-t"))
        .await;
    Resources::<SQSQueue>::new(&env.kube, &ns)
        .wait_ready(&format!("{ns}-q"))
        .await;
    Resources::<SNSSubscription>::new(&env.kube, &ns)
        .wait_ready("s")
        .await;

    let calls = |operation: &str| op.aws_calls(operation);
    // The one look-up before each create, which finds nothing.
    assert_eq!(calls("GetQueueUrl"), 1, "queue looked up again by name");
    assert_eq!(
        calls("ListSubscriptionsByTopic"),
        1,
        "subscription looked up again on its topic"
    );
    // Tags come from the create, not from a read after it.
    assert_eq!(calls("ListQueueTags"), 0);
    assert_eq!(calls("ListTagsForResource"), 0);
    // The topic: not found, then its attributes by the ARN CreateTopic answered.
    assert_eq!(calls("GetTopicAttributes"), 2);
    // One Subscribe, and one grant in the queue's policy, written with the create.
    assert_eq!(calls("Subscribe"), 1);
    assert_eq!(calls("SetQueueAttributes"), 1);
    assert_eq!(calls("SetSubscriptionAttributes"), 0);
}
