//! The queue-policy statements the operator owns: the grants that let an SNS topic deliver to a
//! queue. An SNS subscription with protocol `sqs` only delivers when the queue's access policy
//! allows `sqs:SendMessage` from `sns.amazonaws.com` for that topic.
//!
//! Two controllers write a queue's `Policy` attribute: the SNS subscription controller adds and
//! removes its grants ([`with_grant`], [`without_grant`]), and the SQS controller writes the
//! user's `spec.policy` ([`user_document`], [`merged`]). They keep out of each other's way by
//! the `Sid`: a statement whose Sid starts with [`SID_PREFIX`] is the operator's, any other is
//! the user's. Neither side ever rewrites the other's statements.
//!
//! Pure functions over the JSON text of the attribute; no AWS calls.

use serde_json::{Map, Value, json};

/// Statements whose `Sid` starts with this are the operator's. The prefix is reserved: a user
/// statement with such a Sid is dropped from `spec.policy` (it would be indistinguishable from
/// the operator's own in AWS and could be removed with a subscription).
pub const SID_PREFIX: &str = "ServiceOperatorAwsSns";

/// The policy language version a new document gets (the one with policy variables).
const VERSION: &str = "2012-10-17";
const SNS: &str = "sns.amazonaws.com";
const SEND_MESSAGE: &str = "sqs:SendMessage";
const SOURCE_ARN: &str = "aws:SourceArn";

/// A queue policy the operator cannot add to or remove from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the queue policy is not valid JSON: {0}")]
    NotJson(String),
    #[error("the queue policy is not a policy document: {0}")]
    NotADocument(&'static str),
}

/// The Sid of the operator's statement for `topic_arn`: the prefix and a 64-bit FNV-1a hash of
/// the ARN in hex. A hash, because Sids must be alphanumeric and ARNs are not; FNV-1a, because
/// the Sid is stored in AWS and must be the same for every build (`DefaultHasher` is not).
pub fn sid(topic_arn: &str) -> String {
    let hash = topic_arn
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{SID_PREFIX}{hash:016x}")
}

/// The statement that lets `topic_arn` deliver to the queue `queue_arn`, and nothing else.
pub fn statement(queue_arn: &str, topic_arn: &str) -> Value {
    json!({
        "Sid": sid(topic_arn),
        "Effect": "Allow",
        "Principal": {"Service": SNS},
        "Action": SEND_MESSAGE,
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {SOURCE_ARN: topic_arn}},
    })
}

/// `policy` (the `Policy` attribute, `None` or blank for none) with the operator's statement for
/// `topic_arn` added, or put in place of the one already there. Every other statement and key
/// stays as it is, in order; the result is the same when applied twice.
pub fn with_grant(
    policy: Option<&str>,
    queue_arn: &str,
    topic_arn: &str,
) -> Result<String, GrantError> {
    let mut doc = Document::parse(policy)?.unwrap_or_else(Document::new);
    let sid = sid(topic_arn);
    let mut grant = Some(statement(queue_arn, topic_arn));
    // The first statement with our Sid is replaced in place; any duplicate goes.
    doc.statements = std::mem::take(&mut doc.statements)
        .into_iter()
        .filter_map(|s| {
            if has_sid(&s, &sid) {
                grant.take()
            } else {
                Some(s)
            }
        })
        .collect();
    doc.statements.extend(grant);
    Ok(doc.into_value().to_string())
}

/// `policy` without the operator's statement for `topic_arn`.
///
/// - `Ok(None)`: there is no such statement (or no policy): nothing to write.
/// - `Ok(Some(""))`: no statement is left and the document holds nothing besides `Version`,
///   `Id` and `Statement`: set `Policy` to `""`, which removes the policy in SQS.
/// - `Ok(Some(doc))`: the document to write, every other statement and key as it was.
pub fn without_grant(policy: Option<&str>, topic_arn: &str) -> Result<Option<String>, GrantError> {
    let Some(mut doc) = Document::parse(policy)? else {
        return Ok(None);
    };
    let sid = sid(topic_arn);
    let before = doc.statements.len();
    doc.statements.retain(|s| !has_sid(s, &sid));
    Ok((doc.statements.len() != before).then(|| doc.into_text()))
}

/// The user's part of a policy: the document without the operator's statements, with
/// `Statement` always a list. `None` when nothing of the user's is left (no policy, or only
/// Version/Id and the operator's statements). Two of these compare by meaning: spec and AWS are
/// in sync when they are equal, whatever the operator's grants and the JSON formatting.
///
/// Text that is not JSON comes back as a JSON string of itself (and a JSON value that is not a
/// policy document as it is), so it compares as text and never equals a real document.
pub fn user_document(policy: Option<&str>) -> Option<Value> {
    let text = policy.map(str::trim).filter(|t| !t.is_empty())?;
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Some(Value::String(text.to_owned()));
    };
    let Ok(mut doc) = Document::from_value(value.clone()) else {
        return Some(value);
    };
    doc.statements.retain(|s| !is_operators(s));
    (!doc.is_empty()).then(|| doc.into_value())
}

/// The `Policy` value that holds the user's document `user` (from the spec) and keeps the
/// operator's statements now in `observed` (the attribute in AWS): the user's statements, minus
/// any with the reserved prefix, then the operator's. `""` for `user` means no user policy: the
/// result is only the operator's statements, or `""` (remove the policy) when there are none.
/// An `observed` policy that is not a document holds no statement of ours and is replaced.
pub fn merged(user: &str, observed: Option<&str>) -> Result<String, GrantError> {
    let ours = match Document::parse(observed) {
        Ok(Some(doc)) => doc.statements.into_iter().filter(is_operators).collect(),
        Ok(None) | Err(_) => Vec::new(),
    };
    let mut doc = Document::parse(Some(user))?.unwrap_or_else(Document::new);
    doc.statements.retain(|s| !is_operators(s));
    doc.statements.extend(ours);
    Ok(doc.into_text())
}

/// Whether the queue policy lets the topic deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A statement allows it and none denies it.
    Allowed,
    /// No statement allows it (IAM's implicit deny): the grant is missing.
    Missing,
    /// A statement denies it, or may (see [`evaluate`]); names the statement by its Sid, or
    /// says what is wrong with the policy.
    Denied(String),
}

/// Evaluates the one request SNS makes to deliver: principal service `sns.amazonaws.com`,
/// action `sqs:SendMessage`, resource `queue_arn`, context `aws:SourceArn` = `topic_arn`.
///
/// A small subset of IAM, conservative where it stops: what it cannot decide (a condition on
/// another key or with another operator, `NotPrincipal` not naming SNS, a missing element)
/// makes an Allow not count and a Deny count, so `Allowed` is never reported wrongly.
pub fn evaluate(policy: Option<&str>, queue_arn: &str, topic_arn: &str) -> Delivery {
    let doc = match Document::parse(policy) {
        Ok(Some(doc)) => doc,
        Ok(None) => return Delivery::Missing,
        Err(GrantError::NotJson(_)) => {
            return Delivery::Denied("the queue policy is not valid JSON".to_owned());
        }
        Err(e) => return Delivery::Denied(e.to_string()),
    };
    let request = Request {
        queue_arn,
        topic_arn,
    };
    let mut allowed = false;
    for (index, s) in doc.statements.iter().enumerate() {
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") if request.matches(s) != Match::No => {
                return Delivery::Denied(match s.get("Sid").and_then(Value::as_str) {
                    Some(sid) if !sid.is_empty() => sid.to_owned(),
                    _ => format!("statement {} of the queue policy (no Sid)", index + 1),
                });
            }
            Some("Allow") => allowed |= request.matches(s) == Match::Yes,
            _ => {}
        }
    }
    if allowed {
        Delivery::Allowed
    } else {
        Delivery::Missing
    }
}

fn has_sid(statement: &Value, sid: &str) -> bool {
    statement.get("Sid").and_then(Value::as_str) == Some(sid)
}

fn is_operators(statement: &Value) -> bool {
    statement
        .get("Sid")
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with(SID_PREFIX))
}

/// A policy document taken apart: its statements, and every other top-level key.
struct Document {
    rest: Map<String, Value>,
    statements: Vec<Value>,
}

impl Document {
    fn new() -> Self {
        Self {
            rest: Map::from_iter([("Version".to_owned(), VERSION.into())]),
            statements: Vec::new(),
        }
    }

    /// `None` for no policy (absent or blank text).
    fn parse(policy: Option<&str>) -> Result<Option<Self>, GrantError> {
        let Some(text) = policy.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let value = serde_json::from_str(text).map_err(|e| GrantError::NotJson(e.to_string()))?;
        Self::from_value(value).map(Some)
    }

    /// A lone statement object is IAM grammar for a list of one.
    fn from_value(value: Value) -> Result<Self, GrantError> {
        let Value::Object(mut rest) = value else {
            return Err(GrantError::NotADocument("it is not a JSON object"));
        };
        let statements = match rest.remove("Statement") {
            None => Vec::new(),
            Some(Value::Array(statements)) => statements,
            Some(statement @ Value::Object(_)) => vec![statement],
            Some(_) => {
                return Err(GrantError::NotADocument(
                    "Statement is neither an object nor a list",
                ));
            }
        };
        Ok(Self { rest, statements })
    }

    /// Nothing worth keeping: no statement, and no key besides Version and Id.
    fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.rest.keys().all(|k| k == "Version" || k == "Id")
    }

    fn into_value(self) -> Value {
        let mut rest = self.rest;
        rest.insert("Statement".to_owned(), Value::Array(self.statements));
        Value::Object(rest)
    }

    /// The attribute value; `""` for an empty document, which SQS takes as "no policy".
    fn into_text(self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            self.into_value().to_string()
        }
    }
}

/// Whether a statement applies to the request, for a policy subset that may not know.
/// Ordered so that combining two with `max` is "both apply".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    Yes,
    Unknown,
    No,
}

impl From<bool> for Match {
    fn from(yes: bool) -> Self {
        if yes { Match::Yes } else { Match::No }
    }
}

/// The delivery request SNS makes.
struct Request<'a> {
    queue_arn: &'a str,
    topic_arn: &'a str,
}

impl Request<'_> {
    fn matches(&self, statement: &Value) -> Match {
        let action = SEND_MESSAGE.to_ascii_lowercase();
        principal(statement)
            .max(element(statement, "Action", "NotAction", |p| {
                glob(&p.to_ascii_lowercase(), &action)
            }))
            .max(element(statement, "Resource", "NotResource", |p| {
                glob(p, self.queue_arn)
            }))
            .max(self.condition(statement.get("Condition")))
    }

    /// Every operator, and every key under it, must hold.
    fn condition(&self, condition: Option<&Value>) -> Match {
        let Some(condition) = condition else {
            return Match::Yes;
        };
        let Some(operators) = condition.as_object() else {
            return Match::Unknown;
        };
        operators
            .iter()
            .map(|(operator, keys)| self.operator(operator, keys))
            .fold(Match::Yes, Match::max)
    }

    /// `aws:SourceArn` is always in SNS's request, so an `IfExists` form tests the same.
    fn operator(&self, operator: &str, keys: &Value) -> Match {
        let test: fn(&str, &str) -> bool =
            match operator.strip_suffix("IfExists").unwrap_or(operator) {
                // IAM matches ARNs component by component, with wildcards, for both operators.
                "ArnEquals" | "ArnLike" => arn_like,
                "StringEquals" => |pattern, value| pattern == value,
                "StringLike" => glob,
                _ => return Match::Unknown,
            };
        let Some(keys) = keys.as_object() else {
            return Match::Unknown;
        };
        keys.iter()
            .map(|(key, values)| {
                if !key.eq_ignore_ascii_case(SOURCE_ARN) {
                    return Match::Unknown;
                }
                strings(values).map_or(Match::Unknown, |patterns| {
                    patterns.iter().any(|p| test(p, self.topic_arn)).into()
                })
            })
            .fold(Match::Yes, Match::max)
    }
}

/// `Principal` must name SNS (or everyone); a `NotPrincipal` that does not exclude SNS is left
/// undecided.
fn principal(statement: &Value) -> Match {
    if let Some(principal) = statement.get("Principal") {
        names_sns(principal).into()
    } else if statement.get("NotPrincipal").is_some_and(names_sns) {
        Match::No
    } else {
        Match::Unknown
    }
}

fn names_sns(principal: &Value) -> bool {
    let has = |key: &str, wanted: &str| {
        principal
            .get(key)
            .and_then(strings)
            .is_some_and(|values| values.contains(&wanted))
    };
    match principal {
        Value::String(s) => s == "*",
        Value::Object(_) => has("AWS", "*") || has("Service", SNS),
        _ => false,
    }
}

/// An element and its `Not` form (Action/NotAction, Resource/NotResource).
fn element(statement: &Value, key: &str, not_key: &str, matches: impl Fn(&str) -> bool) -> Match {
    let any = |values: &Value| strings(values).map(|patterns| patterns.into_iter().any(&matches));
    if let Some(values) = statement.get(key) {
        any(values).map_or(Match::Unknown, Match::from)
    } else if let Some(values) = statement.get(not_key) {
        any(values).map_or(Match::Unknown, |any| (!any).into())
    } else {
        Match::Unknown
    }
}

/// A string, or a list of strings (IAM grammar allows both nearly everywhere).
fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(values) => values.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// IAM's ARN matching: each of the six colon-separated parts is matched on its own, so a
/// wildcard never spans a colon (the last part, the resource, may itself hold colons).
fn arn_like(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (patterns, parts): (Vec<_>, Vec<_>) = (
        pattern.splitn(6, ':').collect(),
        arn.splitn(6, ':').collect(),
    );
    patterns.len() == parts.len() && patterns.iter().zip(&parts).all(|(p, s)| glob(p, s))
}

/// IAM's wildcards, case-sensitive: `*` any run of characters, `?` any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and where in the text it is now matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            // Let the last `*` take one more character, and retry from there.
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders";
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:events";
    const OTHER_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:audit";

    fn user_statement(sid: &str) -> Value {
        json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
            "Action": "sqs:ReceiveMessage",
            "Resource": QUEUE,
        })
    }

    fn doc(statements: Vec<Value>) -> String {
        json!({"Version": VERSION, "Statement": statements}).to_string()
    }

    fn statements(policy: &str) -> Vec<Value> {
        let value: Value = serde_json::from_str(policy).unwrap();
        value["Statement"].as_array().unwrap().clone()
    }

    #[test]
    fn sid_is_stable_alphanumeric_and_per_topic() {
        // FNV-1a of "" is the offset basis: the hash is the standard one.
        assert_eq!(sid(""), format!("{SID_PREFIX}cbf29ce484222325"));
        assert_eq!(sid("a"), format!("{SID_PREFIX}af63dc4c8601ec8c"));
        let s = sid(TOPIC);
        assert_eq!(s.len(), SID_PREFIX.len() + 16);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(s, sid(OTHER_TOPIC));
        assert_eq!(s, sid(TOPIC));
    }

    #[test]
    fn statement_grants_send_message_to_the_topic_only() {
        let s = statement(QUEUE, TOPIC);
        assert_eq!(s["Sid"], sid(TOPIC));
        assert_eq!(s["Principal"]["Service"], "sns.amazonaws.com");
        assert_eq!(s["Action"], "sqs:SendMessage");
        assert_eq!(s["Resource"], QUEUE);
        assert_eq!(s["Condition"]["ArnEquals"]["aws:SourceArn"], TOPIC);
    }

    #[test]
    fn the_operators_statement_allows_its_topic_only() {
        let policy = doc(vec![statement(QUEUE, TOPIC)]);
        assert_eq!(evaluate(Some(&policy), QUEUE, TOPIC), Delivery::Allowed);
        assert_eq!(
            evaluate(Some(&policy), QUEUE, OTHER_TOPIC),
            Delivery::Missing
        );
        let other_queue = "arn:aws:sqs:us-east-1:123456789012:other";
        assert_eq!(
            evaluate(Some(&policy), other_queue, TOPIC),
            Delivery::Missing
        );
    }

    #[test]
    fn no_policy_is_missing_and_invalid_json_is_denied() {
        assert_eq!(evaluate(None, QUEUE, TOPIC), Delivery::Missing);
        assert_eq!(evaluate(Some(" "), QUEUE, TOPIC), Delivery::Missing);
        assert_eq!(
            evaluate(Some("{not json"), QUEUE, TOPIC),
            Delivery::Denied("the queue policy is not valid JSON".into())
        );
    }

    #[test]
    fn a_deny_for_everyone_wins_over_the_grant() {
        let deny = json!({
            "Sid": "NoOneSends",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": QUEUE,
        });
        let policy = doc(vec![statement(QUEUE, TOPIC), deny.clone()]);
        assert_eq!(
            evaluate(Some(&policy), QUEUE, TOPIC),
            Delivery::Denied("NoOneSends".into())
        );
        let mut anonymous = deny;
        anonymous.as_object_mut().unwrap().remove("Sid");
        let policy = doc(vec![anonymous]);
        assert_eq!(
            evaluate(Some(&policy), QUEUE, TOPIC),
            Delivery::Denied("statement 1 of the queue policy (no Sid)".into())
        );
    }

    #[test]
    fn wildcards_and_lists_match_like_iam() {
        let allow = |action: Value, resource: Value, condition: Value| {
            let policy = doc(vec![json!({
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "sns.amazonaws.com"]},
                "Action": action,
                "Resource": resource,
                "Condition": condition,
            })]);
            evaluate(Some(&policy), QUEUE, TOPIC)
        };
        let topic_like = json!({"ArnLike": {"AWS:SourceArn": "arn:aws:sns:*:123456789012:*"}});
        assert_eq!(
            allow(
                json!("SQS:send*"),
                json!("arn:aws:sqs:*:123456789012:ord?rs"),
                topic_like.clone()
            ),
            Delivery::Allowed
        );
        assert_eq!(
            allow(
                json!(["sqs:ReceiveMessage", "*"]),
                json!("*"),
                json!({"StringEquals": {"aws:SourceArn": [OTHER_TOPIC, TOPIC]}})
            ),
            Delivery::Allowed
        );
        // Resources are case-sensitive; a wildcard in an ARN never spans a colon.
        assert_eq!(
            allow(json!("sqs:*"), json!("arn:aws:sqs:*:*:Orders"), topic_like),
            Delivery::Missing
        );
        assert_eq!(
            allow(
                json!("sqs:*"),
                json!(QUEUE),
                json!({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:events"}})
            ),
            Delivery::Missing
        );
        // A condition this subset does not know never makes an Allow count.
        assert_eq!(
            allow(
                json!("sqs:*"),
                json!(QUEUE),
                json!({"StringEquals": {"aws:SourceAccount": "123456789012"}})
            ),
            Delivery::Missing
        );
        assert_eq!(
            allow(
                json!("sqs:*"),
                json!(QUEUE),
                json!({"DateLessThan": {"aws:CurrentTime": "2099-01-01"}})
            ),
            Delivery::Missing
        );
    }

    #[test]
    fn not_elements_and_unknown_conditions_count_for_a_deny() {
        let with_deny = |deny: Value| {
            let policy = doc(vec![statement(QUEUE, TOPIC), deny]);
            evaluate(Some(&policy), QUEUE, TOPIC)
        };
        let denied = Delivery::Denied("D".into());
        // Denies everything but receiving: sending is denied.
        assert_eq!(
            with_deny(
                json!({"Sid": "D", "Effect": "Deny", "Principal": "*", "NotAction": "sqs:Receive*", "Resource": QUEUE})
            ),
            denied
        );
        assert_eq!(
            with_deny(
                json!({"Sid": "D", "Effect": "Deny", "Principal": "*", "NotAction": "sqs:Send*", "Resource": QUEUE})
            ),
            Delivery::Allowed
        );
        assert_eq!(
            with_deny(
                json!({"Sid": "D", "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "*", "Resource": QUEUE})
            ),
            denied
        );
        assert_eq!(
            with_deny(
                json!({"Sid": "D", "Effect": "Deny", "NotPrincipal": {"Service": "sns.amazonaws.com"}, "Action": "*", "Resource": QUEUE})
            ),
            Delivery::Allowed
        );
        assert_eq!(
            with_deny(
                json!({"Sid": "D", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": QUEUE, "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
            ),
            denied
        );
        // A deny for another topic does not apply.
        assert_eq!(
            with_deny(
                json!({"Sid": "D", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": QUEUE, "Condition": {"ArnEqualsIfExists": {"aws:SourceArn": OTHER_TOPIC}}})
            ),
            Delivery::Allowed
        );
    }

    #[test]
    fn with_grant_adds_once_and_keeps_the_users_statements_in_order() {
        let user = doc(vec![user_statement("B"), user_statement("A")]);
        let once = with_grant(Some(&user), QUEUE, TOPIC).unwrap();
        assert_eq!(
            statements(&once),
            vec![
                user_statement("B"),
                user_statement("A"),
                statement(QUEUE, TOPIC)
            ]
        );
        assert_eq!(with_grant(Some(&once), QUEUE, TOPIC).unwrap(), once);
        let two = with_grant(Some(&once), QUEUE, OTHER_TOPIC).unwrap();
        assert_eq!(statements(&two).len(), 4);
        assert_eq!(evaluate(Some(&two), QUEUE, OTHER_TOPIC), Delivery::Allowed);
    }

    #[test]
    fn with_grant_replaces_a_stale_statement_in_place() {
        let mut stale = statement("arn:aws:sqs:us-east-1:123456789012:old", TOPIC);
        stale["Action"] = json!("sqs:ReceiveMessage");
        let policy = doc(vec![stale, user_statement("A")]);
        assert_eq!(
            statements(&with_grant(Some(&policy), QUEUE, TOPIC).unwrap()),
            vec![statement(QUEUE, TOPIC), user_statement("A")]
        );
    }

    #[test]
    fn with_grant_creates_a_document_and_refuses_invalid_json() {
        for none in [None, Some(""), Some("  ")] {
            let created: Value =
                serde_json::from_str(&with_grant(none, QUEUE, TOPIC).unwrap()).unwrap();
            assert_eq!(
                created,
                json!({"Version": VERSION, "Statement": [statement(QUEUE, TOPIC)]})
            );
        }
        assert!(matches!(
            with_grant(Some("{"), QUEUE, TOPIC),
            Err(GrantError::NotJson(_))
        ));
        assert!(matches!(
            with_grant(Some(r#"{"Statement": "x"}"#), QUEUE, TOPIC),
            Err(GrantError::NotADocument(_))
        ));
    }

    #[test]
    fn a_single_statement_object_is_a_list_of_one() {
        let policy = json!({"Version": VERSION, "Statement": user_statement("A")}).to_string();
        assert_eq!(
            statements(&with_grant(Some(&policy), QUEUE, TOPIC).unwrap()),
            vec![user_statement("A"), statement(QUEUE, TOPIC)]
        );
        let ours = json!({"Version": VERSION, "Statement": statement(QUEUE, TOPIC)}).to_string();
        assert_eq!(evaluate(Some(&ours), QUEUE, TOPIC), Delivery::Allowed);
        assert_eq!(without_grant(Some(&ours), TOPIC), Ok(Some(String::new())));
        assert_eq!(user_document(Some(&ours)), None);
        assert_eq!(
            user_document(Some(&policy)),
            Some(json!({"Version": VERSION, "Statement": [user_statement("A")]}))
        );
    }

    #[test]
    fn without_grant_removes_only_that_topics_statement() {
        let policy = doc(vec![
            user_statement("A"),
            statement(QUEUE, TOPIC),
            statement(QUEUE, OTHER_TOPIC),
        ]);
        let removed = without_grant(Some(&policy), TOPIC).unwrap().unwrap();
        assert_eq!(
            statements(&removed),
            vec![user_statement("A"), statement(QUEUE, OTHER_TOPIC)]
        );
        assert_eq!(without_grant(Some(&removed), TOPIC), Ok(None));
        assert_eq!(without_grant(None, TOPIC), Ok(None));
        assert!(without_grant(Some("nope"), TOPIC).is_err());
    }

    #[test]
    fn without_the_last_statement_the_policy_goes_unless_it_holds_more() {
        let only = json!({"Version": VERSION, "Id": "q", "Statement": [statement(QUEUE, TOPIC)]});
        assert_eq!(
            without_grant(Some(&only.to_string()), TOPIC),
            Ok(Some(String::new()))
        );
        let mut more = only;
        more["Comment"] = json!("kept");
        let left = without_grant(Some(&more.to_string()), TOPIC)
            .unwrap()
            .unwrap();
        let left: Value = serde_json::from_str(&left).unwrap();
        assert_eq!(
            left,
            json!({"Version": VERSION, "Id": "q", "Comment": "kept", "Statement": []})
        );
    }

    #[test]
    fn user_document_strips_the_operators_statements() {
        let user = doc(vec![user_statement("A")]);
        let in_aws = with_grant(Some(&user), QUEUE, TOPIC).unwrap();
        assert_eq!(user_document(Some(&in_aws)), user_document(Some(&user)));
        assert_eq!(
            user_document(Some(&user)),
            Some(json!({"Version": VERSION, "Statement": [user_statement("A")]}))
        );
        let only_ours = with_grant(None, QUEUE, TOPIC).unwrap();
        assert_eq!(user_document(Some(&only_ours)), None);
        assert_eq!(user_document(None), None);
        assert_eq!(user_document(Some(" ")), None);
        assert_eq!(user_document(Some("nope")), Some(json!("nope")));
    }

    #[test]
    fn merged_keeps_the_operators_statements_from_aws() {
        let observed = doc(vec![
            statement(QUEUE, TOPIC),
            user_statement("Old"),
            statement(QUEUE, OTHER_TOPIC),
        ]);
        // The user's copy of a reserved Sid is dropped: the prefix is the operator's.
        let mut copied = statement(QUEUE, "arn:aws:sns:us-east-1:123456789012:gone");
        copied["Sid"] = json!(format!("{SID_PREFIX}Mine"));
        let user = doc(vec![user_statement("New"), copied]);
        let written = merged(&user, Some(&observed)).unwrap();
        assert_eq!(
            statements(&written),
            vec![
                user_statement("New"),
                statement(QUEUE, TOPIC),
                statement(QUEUE, OTHER_TOPIC)
            ]
        );
        assert_eq!(
            user_document(Some(&written)),
            user_document(Some(&doc(vec![user_statement("New")])))
        );
    }

    #[test]
    fn merged_without_a_user_document_is_only_the_operators() {
        let observed = doc(vec![user_statement("Old"), statement(QUEUE, TOPIC)]);
        assert_eq!(
            serde_json::from_str::<Value>(&merged("", Some(&observed)).unwrap()).unwrap(),
            json!({"Version": VERSION, "Statement": [statement(QUEUE, TOPIC)]})
        );
        assert_eq!(
            merged("", Some(&doc(vec![user_statement("Old")]))),
            Ok(String::new())
        );
        assert_eq!(merged(" ", None), Ok(String::new()));
        assert!(matches!(merged("{", None), Err(GrantError::NotJson(_))));
        // Only the user's single statement object: written as a list.
        let single = json!({"Version": VERSION, "Statement": user_statement("A")}).to_string();
        assert_eq!(
            statements(&merged(&single, Some("garbage")).unwrap()),
            vec![user_statement("A")]
        );
    }
}
