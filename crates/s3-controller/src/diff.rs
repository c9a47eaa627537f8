//! What a bucket looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::resource::spelled;
use operator_core::{PlannedChange, json, ownership};

use crate::spec::{
    AccessControl, CorsRule, Encryption, LifecycleRule, Logging, ObjectOwnership,
    OwnershipControls, PublicAccessBlock, S3BucketSpec, SseAlgorithm, Website,
};

/// A bucket as S3 reports it, in the spec's own terms. Settings the spec does not manage are not
/// read, and stay `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedBucket {
    pub name: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    /// `None` when versioning was never enabled.
    pub versioning: Option<Versioning>,
    /// The group grants of the bucket ACL, which is what tells canned ACLs apart.
    pub group_grants: Vec<GroupGrant>,
    /// All off when the bucket has no public access block.
    pub public_access_block: PublicAccessBlock,
    pub ownership: Option<ObjectOwnership>,
    pub logging: Option<LoggingTarget>,
    pub website: Option<WebsitePages>,
    pub encryption: Option<Encryption>,
    /// `None` when not read; `Some(empty)` when the bucket has no lifecycle rules.
    pub lifecycle_rules: Option<Vec<LifecycleRule>>,
    /// `None` when not read; `Some(empty)` when the bucket has no CORS rules.
    pub cors: Option<Vec<CorsRule>>,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    Suspended,
}

impl Versioning {
    /// As S3 names the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
}

/// A grant to one of S3's predefined groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupGrant {
    AllUsersRead,
    AllUsersWrite,
    AuthenticatedUsersRead,
    LogDeliveryWrite,
    LogDeliveryReadAcp,
    /// Any other group grant: no canned ACL gives it.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingTarget {
    pub bucket: String,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsitePages {
    pub index: String,
    pub error: String,
}

/// One difference between spec and AWS, written by one AWS call (or two for removals).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    PublicAccessBlock(PublicAccessBlock),
    Ownership(ObjectOwnership),
    AccessControl(AccessControl),
    /// `None` removes the policy.
    Policy(Option<String>),
    Versioning(bool),
    Encryption(Encryption),
    Logging(Option<LoggingTarget>),
    Website(Option<WebsitePages>),
    LifecycleRules(Vec<LifecycleRule>),
    Cors(Vec<CorsRule>),
    /// The complete tag set: S3 replaces all tags at once.
    Tags(BTreeMap<String, String>),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::PublicAccessBlock(_) => "publicAccessBlock",
            Change::Ownership(_) => "ownershipControls",
            Change::AccessControl(_) => "accessControl",
            Change::Versioning(_) => "versioning",
            Change::Encryption(_) => "encryption",
            Change::Logging(_) => "logging",
            Change::Website(_) => "website",
            Change::LifecycleRules(_) => "lifecycleRules",
            Change::Cors(_) => "cors",
            Change::Policy(_) => "policy",
            Change::Tags(_) => "tags",
        })
    }
}

/// `change` as plans show it: the values of short settings; only the field for documents,
/// rule lists and tags.
pub fn planned(change: &Change, observed: &ObservedBucket) -> PlannedChange {
    let field = change.to_string();
    match change {
        Change::PublicAccessBlock(block) => PlannedChange::values(
            field,
            Some(blocked(&observed.public_access_block)),
            Some(blocked(block)),
        ),
        Change::Ownership(o) => {
            PlannedChange::values(field, observed.ownership.map(spelled), Some(spelled(o)))
        }
        Change::AccessControl(acl) => PlannedChange::values(
            field,
            Some(
                canned_acl_of(&observed.group_grants).map_or_else(|| "custom".to_owned(), spelled),
            ),
            Some(spelled(acl)),
        ),
        Change::Versioning(enabled) => {
            let wanted = if *enabled {
                Versioning::Enabled
            } else {
                Versioning::Suspended
            };
            PlannedChange::values(
                field,
                observed.versioning.map(Versioning::as_str),
                Some(wanted.as_str()),
            )
        }
        Change::Encryption(e) => PlannedChange::values(
            field,
            observed.encryption.as_ref().map(encryption),
            Some(encryption(e)),
        ),
        Change::Logging(target) => PlannedChange::values(
            field,
            observed.logging.as_ref().map(log_target),
            target.as_ref().map(log_target),
        ),
        Change::Website(pages) => PlannedChange::values(
            field,
            observed.website.as_ref().map(site),
            pages.as_ref().map(site),
        ),
        Change::Policy(_) | Change::LifecycleRules(_) | Change::Cors(_) | Change::Tags(_) => {
            PlannedChange::field(field)
        }
    }
}

/// Which of the four blocks are on: `all`, `none`, or their names.
fn blocked(block: &PublicAccessBlock) -> String {
    let on: Vec<&str> = [
        ("blockPublicAcls", block.block_public_acls),
        ("ignorePublicAcls", block.ignore_public_acls),
        ("blockPublicPolicy", block.block_public_policy),
        ("restrictPublicBuckets", block.restrict_public_buckets),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    match on.len() {
        0 => "none".to_owned(),
        4 => "all".to_owned(),
        _ => on.join("+"),
    }
}

fn encryption(e: &Encryption) -> String {
    match &e.kms_master_key_id {
        Some(key) => format!("{} {key}", spelled(e.sse_algorithm)),
        None => spelled(e.sse_algorithm),
    }
}

fn log_target(target: &LoggingTarget) -> String {
    format!("s3://{}/{}", target.bucket, target.prefix)
}

fn site(pages: &WebsitePages) -> String {
    format!("index {} error {}", pages.index, pages.error)
}

/// A spec that describes `observed` as S3 has it, for export: the diff against it finds nothing
/// but the ownership tags. `observed` must hold every setting (export reads them all). What the
/// bucket does not have (logging, website, rules, policy) is left out, as a bucket created from
/// the spec starts without it.
pub fn exported_spec(observed: &ObservedBucket) -> S3BucketSpec {
    S3BucketSpec {
        bucket_name: Some(observed.name.clone()),
        versioning: observed.versioning == Some(Versioning::Enabled),
        // Grants no canned ACL gives cannot be described: Private is the closest.
        access_control: canned_acl_of(&observed.group_grants).unwrap_or_default(),
        logging: observed.logging.as_ref().map(|l| Logging {
            enabled: true,
            prefix: l.prefix.clone(),
            target_bucket: Some(l.bucket.clone()),
        }),
        // A redirect-only website has no pages, which the spec cannot say: left unmanaged.
        website: observed
            .website
            .as_ref()
            .filter(|w| !w.index.is_empty() && !w.error.is_empty())
            .map(|w| Website {
                enabled: true,
                index_page: w.index.clone(),
                error_page: w.error.clone(),
            }),
        encryption: observed.encryption.clone(),
        public_access_block: observed.public_access_block,
        lifecycle_rules: observed
            .lifecycle_rules
            .as_ref()
            .filter(|r| !r.is_empty())
            .map(|rules| {
                rules
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.prefix = r.prefix.filter(|p| !p.is_empty());
                        r
                    })
                    .collect()
            }),
        cors: observed.cors.clone().filter(|r| !r.is_empty()),
        policy: observed.policy.clone(),
        ownership_controls: observed
            .ownership
            .map(|object_ownership| OwnershipControls { object_ownership }),
        tags: ownership::exported_tags(&observed.tags),
    }
}

/// Each kind of group grant once, in order, as canned ACLs are compared.
fn distinct(grants: &[GroupGrant]) -> Vec<GroupGrant> {
    let mut grants = grants.to_vec();
    grants.sort();
    grants.dedup();
    grants
}

/// The canned ACL that gives the bucket exactly these group grants; `None` when none does.
pub fn canned_acl_of(grants: &[GroupGrant]) -> Option<AccessControl> {
    let grants = distinct(grants);
    [
        AccessControl::Private,
        AccessControl::PublicRead,
        AccessControl::PublicReadWrite,
        AccessControl::AuthenticatedRead,
        AccessControl::LogDeliveryWrite,
    ]
    .into_iter()
    .find(|acl| canned_group_grants(*acl) == grants)
}

/// The group grants a canned ACL gives a bucket. The owner's own grant is the same for all.
pub fn canned_group_grants(acl: AccessControl) -> Vec<GroupGrant> {
    use GroupGrant::*;
    match acl {
        AccessControl::PublicRead => vec![AllUsersRead],
        AccessControl::PublicReadWrite => vec![AllUsersRead, AllUsersWrite],
        AccessControl::AuthenticatedRead => vec![AuthenticatedUsersRead],
        AccessControl::LogDeliveryWrite => vec![LogDeliveryWrite, LogDeliveryReadAcp],
        // These differ from private only for objects, or by a grant to an AWS account.
        AccessControl::Private
        | AccessControl::BucketOwnerRead
        | AccessControl::BucketOwnerFullControl
        | AccessControl::AwsExecRead => vec![],
    }
}

/// Where the spec wants logs to go, if anywhere.
pub fn desired_logging(spec: &S3BucketSpec, bucket: &str) -> Option<LoggingTarget> {
    spec.logging
        .as_ref()
        .filter(|l| l.enabled)
        .map(|l| LoggingTarget {
            bucket: l.target_bucket.clone().unwrap_or_else(|| bucket.to_owned()),
            prefix: l.prefix.clone(),
        })
}

pub fn desired_website(spec: &S3BucketSpec) -> Option<WebsitePages> {
    spec.website
        .as_ref()
        .filter(|w| w.enabled)
        .map(|w| WebsitePages {
            index: w.index_page.clone(),
            error: w.error_page.clone(),
        })
}

/// The differences between `spec` and `observed`, in the order they should be applied: access
/// settings first, so that a policy or ACL they allow is accepted; the policy before logging,
/// as it is what lets the logging service write to a bucket.
pub fn diff(
    spec: &S3BucketSpec,
    observed: &ObservedBucket,
    tags: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut changes = Vec::new();

    if spec.public_access_block != observed.public_access_block {
        changes.push(Change::PublicAccessBlock(spec.public_access_block));
    }

    if let Some(controls) = &spec.ownership_controls
        && observed.ownership != Some(controls.object_ownership)
    {
        changes.push(Change::Ownership(controls.object_ownership));
    }

    if canned_group_grants(spec.access_control) != distinct(&observed.group_grants) {
        changes.push(Change::AccessControl(spec.access_control));
    }

    // Compared by meaning: AWS may return the document reformatted.
    if let Some(policy) = &spec.policy
        && !json::same(Some(policy), observed.policy.as_deref())
    {
        let wanted = Some(policy.clone()).filter(|p| !p.trim().is_empty());
        changes.push(Change::Policy(wanted));
    }

    let enabled = observed.versioning == Some(Versioning::Enabled);
    // A bucket never versioned needs no suspension.
    if spec.versioning != enabled && (spec.versioning || observed.versioning.is_some()) {
        changes.push(Change::Versioning(spec.versioning));
    }

    if let Some(wanted) = &spec.encryption
        && !same_encryption(wanted, observed.encryption.as_ref())
    {
        changes.push(Change::Encryption(wanted.clone()));
    }

    if spec.logging.is_some() {
        let wanted = desired_logging(spec, &observed.name);
        if wanted != observed.logging {
            changes.push(Change::Logging(wanted));
        }
    }

    if spec.website.is_some() {
        let wanted = desired_website(spec);
        if wanted != observed.website {
            changes.push(Change::Website(wanted));
        }
    }

    if let Some(rules) = &spec.lifecycle_rules {
        let current = observed.lifecycle_rules.clone().unwrap_or_default();
        if !same_lifecycle(rules, &current) {
            changes.push(Change::LifecycleRules(rules.clone()));
        }
    }

    if let Some(rules) = &spec.cors {
        let current = observed.cors.clone().unwrap_or_default();
        if !same_cors(rules, &current) {
            changes.push(Change::Cors(rules.clone()));
        }
    }

    // S3 tags are replaced as a whole; AWS's own `aws:` tags cannot be written and are ignored.
    let own: BTreeMap<_, _> = observed
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if &own != tags {
        changes.push(Change::Tags(tags.clone()));
    }
    changes
}

fn same_encryption(wanted: &Encryption, observed: Option<&Encryption>) -> bool {
    let Some(observed) = observed else {
        return false;
    };
    if wanted.sse_algorithm != observed.sse_algorithm {
        return false;
    }
    if wanted.sse_algorithm == SseAlgorithm::AwsKms {
        let key_matches = match (&wanted.kms_master_key_id, &observed.kms_master_key_id) {
            (None, _) => true,
            // An alias cannot be compared with the key ARN AWS may report.
            (Some(w), _) if w.starts_with("alias/") => true,
            (Some(w), Some(o)) => o == w || o.ends_with(&format!("/{w}")),
            (Some(_), None) => false,
        };
        if !key_matches {
            return false;
        }
    }
    wanted
        .bucket_key_enabled
        .is_none_or(|w| w == observed.bucket_key_enabled.unwrap_or(false))
}

/// Lifecycle rules are compared by id, regardless of order; an absent prefix equals "".
fn same_lifecycle(wanted: &[LifecycleRule], observed: &[LifecycleRule]) -> bool {
    let normalise = |rules: &[LifecycleRule]| {
        let mut rules: Vec<LifecycleRule> = rules
            .iter()
            .cloned()
            .map(|mut r| {
                r.prefix = r.prefix.filter(|p| !p.is_empty());
                r
            })
            .collect();
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        rules
    };
    normalise(wanted) == normalise(observed)
}

/// CORS rules are compared in order (the first matching rule applies); an id the spec leaves
/// out is not compared.
fn same_cors(wanted: &[CorsRule], observed: &[CorsRule]) -> bool {
    wanted.len() == observed.len()
        && wanted.iter().zip(observed).all(|(w, o)| {
            let mut o = o.clone();
            if w.id.is_none() {
                o.id = None;
            }
            *w == o
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CorsMethod, Expiration, RuleStatus};

    /// The original operator's manifest, with the defaults the API server fills in.
    fn spec() -> S3BucketSpec {
        serde_json::from_value(serde_json::json!({})).unwrap()
    }

    fn matching(spec: &S3BucketSpec) -> ObservedBucket {
        ObservedBucket {
            name: "b".into(),
            region: "eu-west-1".into(),
            public_access_block: spec.public_access_block,
            group_grants: canned_group_grants(spec.access_control),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_secure_and_original() {
        let s = spec();
        assert!(!s.versioning);
        assert_eq!(s.access_control, AccessControl::Private);
        assert_eq!(s.public_access_block, PublicAccessBlock::all(true));
        let l: Logging = serde_json::from_value(serde_json::json!({"enabled": true})).unwrap();
        assert_eq!(l.prefix, "-archive");
        let w: Website = serde_json::from_value(serde_json::json!({"enabled": true})).unwrap();
        assert_eq!(
            (w.index_page.as_str(), w.error_page.as_str()),
            ("index.html", "500.html")
        );
    }

    #[test]
    fn matching_bucket_has_no_changes() {
        let s = spec();
        assert_eq!(diff(&s, &matching(&s), &BTreeMap::new()), vec![]);
    }

    #[test]
    fn a_bucket_without_public_access_block_gets_one() {
        let s = spec();
        let mut observed = matching(&s);
        observed.public_access_block = PublicAccessBlock::all(false);
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::PublicAccessBlock(PublicAccessBlock::all(true))]
        );
    }

    #[test]
    fn versioning_is_suspended_only_when_it_was_enabled() {
        let mut s = spec();
        let mut observed = matching(&s);
        observed.versioning = Some(Versioning::Suspended);
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
        observed.versioning = Some(Versioning::Enabled);
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::Versioning(false)]
        );
        s.versioning = true;
        observed.versioning = None;
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::Versioning(true)]
        );
    }

    #[test]
    fn public_read_acl_is_told_from_private_by_group_grants() {
        let mut s = spec();
        s.access_control = AccessControl::PublicRead;
        let observed = matching(&spec());
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::AccessControl(AccessControl::PublicRead)]
        );
        // Bucket-owner ACLs look private on a bucket: no update loop.
        s.access_control = AccessControl::BucketOwnerFullControl;
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
    }

    #[test]
    fn policy_formatting_and_key_order_are_not_differences() {
        let mut s = spec();
        s.policy = Some(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}"#.into(),
        );
        let mut observed = matching(&s);
        observed.policy = Some(
            "{\n  \"Statement\":[{\"Resource\":\"arn:aws:s3:::b/*\",\"Action\":\"s3:*\",\"Principal\":\"*\",\"Effect\":\"Deny\"}],\"Version\":\"2012-10-17\"}".into(),
        );
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);

        observed.policy = Some(observed.policy.unwrap().replace("Deny", "Allow"));
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::Policy(s.policy.clone())]
        );
    }

    #[test]
    fn empty_policy_removes_it_and_absent_policy_is_unmanaged() {
        let mut s = spec();
        let mut observed = matching(&s);
        observed.policy = Some("{}".into());
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
        s.policy = Some(String::new());
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::Policy(None)]
        );
    }

    #[test]
    fn disabled_website_and_logging_are_removed() {
        let mut s = spec();
        s.website = Some(Website {
            enabled: false,
            index_page: "index.html".into(),
            error_page: "500.html".into(),
        });
        s.logging = Some(Logging {
            enabled: true,
            prefix: "logs/".into(),
            target_bucket: None,
        });
        let mut observed = matching(&s);
        observed.website = Some(WebsitePages {
            index: "index.html".into(),
            error: "500.html".into(),
        });
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![
                Change::Logging(Some(LoggingTarget {
                    bucket: "b".into(),
                    prefix: "logs/".into()
                })),
                Change::Website(None)
            ]
        );
    }

    #[test]
    fn lifecycle_rules_compare_by_id_and_empty_prefix_is_no_prefix() {
        let rule = |id: &str, prefix: Option<&str>| LifecycleRule {
            id: id.into(),
            status: RuleStatus::Enabled,
            prefix: prefix.map(str::to_owned),
            expiration: Some(Expiration { days: 30 }),
            transitions: vec![],
            noncurrent_version_expiration: None,
            abort_incomplete_multipart_upload: None,
        };
        let mut s = spec();
        s.lifecycle_rules = Some(vec![rule("b", None), rule("a", Some("tmp/"))]);
        let mut observed = matching(&s);
        observed.lifecycle_rules = Some(vec![rule("a", Some("tmp/")), rule("b", Some(""))]);
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
        observed.lifecycle_rules = Some(vec![rule("a", Some("tmp/"))]);
        assert_eq!(diff(&s, &observed, &BTreeMap::new()).len(), 1);
    }

    #[test]
    fn cors_ids_left_out_are_not_compared() {
        let rule = CorsRule {
            id: None,
            allowed_origins: vec!["*".into()],
            allowed_methods: vec![CorsMethod::Get],
            allowed_headers: vec![],
            expose_headers: vec![],
            max_age_seconds: None,
        };
        let mut s = spec();
        s.cors = Some(vec![rule.clone()]);
        let mut observed = matching(&s);
        observed.cors = Some(vec![CorsRule {
            id: Some("generated".into()),
            ..rule
        }]);
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
        s.cors = Some(vec![]);
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::Cors(vec![])]
        );
    }

    #[test]
    fn kms_key_id_matches_the_reported_arn() {
        let mut s = spec();
        s.encryption = Some(Encryption {
            sse_algorithm: SseAlgorithm::AwsKms,
            kms_master_key_id: Some("1234".into()),
            bucket_key_enabled: None,
        });
        let mut observed = matching(&s);
        observed.encryption = Some(Encryption {
            sse_algorithm: SseAlgorithm::AwsKms,
            kms_master_key_id: Some("arn:aws:kms:eu-west-1:1:key/1234".into()),
            bucket_key_enabled: Some(false),
        });
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
        observed.encryption.as_mut().unwrap().sse_algorithm = SseAlgorithm::Aes256;
        assert_eq!(diff(&s, &observed, &BTreeMap::new()).len(), 1);
    }

    #[test]
    fn short_settings_are_planned_with_both_values() {
        let s = spec();
        let mut observed = matching(&s);
        observed.versioning = Some(Versioning::Enabled);
        observed.public_access_block.block_public_policy = false;
        let changes = diff(&s, &observed, &BTreeMap::new());
        let plan: Vec<PlannedChange> = changes.iter().map(|c| planned(c, &observed)).collect();
        assert_eq!(
            plan,
            vec![
                PlannedChange::values(
                    "publicAccessBlock",
                    Some("blockPublicAcls+ignorePublicAcls+restrictPublicBuckets"),
                    Some("all")
                ),
                PlannedChange::values("versioning", Some("Enabled"), Some("Suspended")),
            ]
        );
        let acl = Change::AccessControl(AccessControl::PublicRead);
        assert_eq!(
            planned(&acl, &observed),
            PlannedChange::values("accessControl", Some("Private"), Some("PublicRead"))
        );
        let policy = Change::Policy(Some("{}".into()));
        assert_eq!(planned(&policy, &observed), PlannedChange::field("policy"));
    }

    /// A bucket with every setting read, as export sees it.
    fn busy_bucket() -> ObservedBucket {
        ObservedBucket {
            name: "assets.example.com".into(),
            region: "eu-west-1".into(),
            tags: BTreeMap::from([
                ("team".into(), "a".into()),
                (ownership::TAG_UID.into(), "u".into()),
                ("aws:cloudformation:stack-name".into(), "s".into()),
            ]),
            versioning: Some(Versioning::Suspended),
            group_grants: vec![GroupGrant::AllUsersRead],
            public_access_block: PublicAccessBlock {
                block_public_policy: false,
                ..PublicAccessBlock::all(false)
            },
            ownership: Some(ObjectOwnership::BucketOwnerPreferred),
            logging: Some(LoggingTarget {
                bucket: "logs".into(),
                prefix: "assets/".into(),
            }),
            website: Some(WebsitePages {
                index: "index.html".into(),
                error: "404.html".into(),
            }),
            encryption: Some(Encryption {
                sse_algorithm: SseAlgorithm::AwsKms,
                kms_master_key_id: Some("arn:aws:kms:eu-west-1:1:key/1234".into()),
                bucket_key_enabled: Some(true),
            }),
            lifecycle_rules: Some(vec![LifecycleRule {
                id: "expire".into(),
                status: RuleStatus::Enabled,
                prefix: Some(String::new()),
                expiration: Some(Expiration { days: 30 }),
                transitions: vec![],
                noncurrent_version_expiration: None,
                abort_incomplete_multipart_upload: None,
            }]),
            cors: Some(vec![CorsRule {
                id: Some("web".into()),
                allowed_origins: vec!["*".into()],
                allowed_methods: vec![CorsMethod::Get],
                allowed_headers: vec![],
                expose_headers: vec![],
                max_age_seconds: Some(60),
            }]),
            policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
        }
    }

    /// The tags the core compares an exported object with: its own and the ownership tags.
    fn with_owner(spec: &S3BucketSpec) -> BTreeMap<String, String> {
        let mut tags = spec.tags.clone();
        tags.insert(ownership::TAG_UID.into(), "u".into());
        tags
    }

    #[test]
    fn an_exported_spec_matches_the_bucket_it_came_from() {
        let observed = busy_bucket();
        let exported = exported_spec(&observed);
        assert_eq!(exported.bucket_name.as_deref(), Some("assets.example.com"));
        assert_eq!(exported.access_control, AccessControl::PublicRead);
        assert_eq!(exported.tags.keys().collect::<Vec<_>>(), ["team"]);
        assert_eq!(diff(&exported, &observed, &with_owner(&exported)), vec![]);
    }

    #[test]
    fn an_exported_plain_bucket_leaves_out_what_it_lacks() {
        let mut observed = matching(&spec());
        observed.lifecycle_rules = Some(vec![]);
        observed.cors = Some(vec![]);
        observed.tags = BTreeMap::from([(ownership::TAG_UID.into(), "u".into())]);
        let exported = exported_spec(&observed);
        assert!(exported.logging.is_none() && exported.website.is_none());
        assert!(exported.lifecycle_rules.is_none() && exported.cors.is_none());
        assert!(exported.policy.is_none() && !exported.versioning);
        assert_eq!(diff(&exported, &observed, &with_owner(&exported)), vec![]);
    }

    #[test]
    fn an_acl_no_canned_one_gives_cannot_be_exported_as_it_is() {
        assert_eq!(canned_acl_of(&[GroupGrant::Other]), None);
        assert_eq!(
            canned_acl_of(&[GroupGrant::LogDeliveryReadAcp, GroupGrant::LogDeliveryWrite]),
            Some(AccessControl::LogDeliveryWrite)
        );
    }

    #[test]
    fn tags_are_replaced_as_a_whole_ignoring_aws_tags() {
        let s = spec();
        let mut observed = matching(&s);
        observed.tags = BTreeMap::from([
            ("aws:cloudformation:stack-name".into(), "x".into()),
            ("team".into(), "a".into()),
        ]);
        let desired = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        assert_eq!(diff(&s, &observed, &desired), vec![]);
        let desired = BTreeMap::from([("team".to_owned(), "b".to_owned())]);
        assert_eq!(
            diff(&s, &observed, &desired),
            vec![Change::Tags(desired.clone())]
        );
    }
}
