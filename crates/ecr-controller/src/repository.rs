//! How an `ECRRepository` resource maps onto the ECR API: observe, create, update, delete.

use std::collections::BTreeMap;

use aws_sdk_ecr::{
    Client,
    types::{self as ecr, Tag},
};
use operator_core::{
    AwsError, AwsResource, NameRule, PlannedChange, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    ownership, policy,
    references::Resolved,
};
use tracing::instrument;

use crate::{
    diff::{self, Change, ObservedRepository},
    spec::{ECRRepository, Encryption, EncryptionType, ImageTagMutability, RepositoryStatusFields},
};

const NOT_FOUND: &[&str] = &["RepositoryNotFoundException"];

impl AwsResource for ECRRepository {
    type Client = Client;
    type Observed = ObservedRepository;
    type Change = Change;
    type StatusFields = RepositoryStatusFields;

    const SERVICE: &'static str = "ECR repository";
    /// ECR's repository naming rule, for a name taken from metadata.name.
    const DEFAULTED_NAME: Option<NameRule> = Some(NameRule {
        rule: "has(self.spec.repositoryName) || (size(self.metadata.name) >= 2 && self.metadata.name.matches('^[a-z0-9]+([._-][a-z0-9]+)*$'))",
        message: "metadata.name is used as the ECR repository name and ECR refuses it: at least 2 characters, lowercase letters and digits separated by single '.', '_' or '-'; set spec.repositoryName to use another name",
    });

    fn client(aws: &AwsClients) -> Client {
        let config = aws_sdk_ecr::config::Builder::from(aws.config_for(crate::SERVICE.name))
            .interceptor(aws.calls.clone())
            .build();
        Client::from_conf(config)
    }

    fn aws_name(&self) -> String {
        self.repository_name()
    }

    /// Reads the repository and its tags, and the policies only when the spec manages them.
    #[instrument(skip_all, fields(repository = %self.repository_name()))]
    async fn observe(
        &self,
        client: &Client,
        _refs: &Resolved,
    ) -> Result<Option<ObservedRepository>, AwsError> {
        let name = self.repository_name();
        let out = match client
            .describe_repositories()
            .repository_names(&name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
            Err(e) => return Err(from_sdk(e)),
        };
        let Some(repo) = out.repositories().first() else {
            return Ok(None);
        };
        let mut observed = ObservedRepository {
            name: repo.repository_name().unwrap_or(&name).to_owned(),
            ..observed_repository(repo)
        };
        observed.tags = list_tags(client, &observed.arn).await?;
        if self.spec.lifecycle_policy.is_some() {
            observed.lifecycle_policy = lifecycle_policy(client, &observed.name).await?;
        }
        if self.spec.repository_policy.is_some() {
            observed.repository_policy = repository_policy(client, &observed.name).await?;
        }
        Ok(Some(observed))
    }

    /// Creates the repository with its tags, mutability, scanning and encryption in one call,
    /// then sets the policies.
    #[instrument(skip_all, fields(repository = %self.repository_name()))]
    async fn create(
        &self,
        client: &Client,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<ObservedRepository>, AwsError> {
        let spec = &self.spec;
        let mut request = client
            .create_repository()
            .repository_name(self.repository_name())
            .set_tags(Some(sdk_tags(tags)?));
        if let Some(mutability) = spec.image_tag_mutability {
            request = request.image_tag_mutability(sdk_mutability(mutability));
        }
        if let Some(scan) = spec.scan_on_push {
            request = request.image_scanning_configuration(
                ecr::ImageScanningConfiguration::builder()
                    .scan_on_push(scan)
                    .build(),
            );
        }
        if let Some(encryption) = &spec.encryption {
            let kind = match encryption.encryption_type {
                EncryptionType::Aes256 => ecr::EncryptionType::Aes256,
                EncryptionType::Kms => ecr::EncryptionType::Kms,
            };
            request = request.encryption_configuration(
                ecr::EncryptionConfiguration::builder()
                    .encryption_type(kind)
                    .set_kms_key(encryption.kms_key.clone())
                    .build()?,
            );
        }
        request.send().await.map_err(from_sdk)?;
        // The lifecycle and repository policies take calls of their own: the core observes the
        // repository and writes what `diff` finds missing.
        Ok(None)
    }

    fn tags(observed: &ObservedRepository) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    #[instrument(skip_all, fields(repository = %self.repository_name()))]
    async fn tag(
        &self,
        client: &Client,
        observed: &ObservedRepository,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        client
            .tag_resource()
            .resource_arn(&observed.arn)
            .set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    fn diff(
        &self,
        observed: &ObservedRepository,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(&self.spec, observed, tags)
    }

    #[instrument(skip_all, fields(repository = %self.repository_name()))]
    async fn update(
        &self,
        client: &Client,
        _refs: &Resolved,
        observed: &ObservedRepository,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        for change in changes {
            apply(client, observed, change).await?;
        }
        Ok(())
    }

    /// Deletes the repository. One holding images is deleted with them only when annotated for
    /// force deletion; otherwise AWS's refusal is reported and the resource stays.
    #[instrument(skip_all, fields(repository = %self.repository_name()))]
    async fn delete(&self, client: &Client, observed: &ObservedRepository) -> Result<(), AwsError> {
        let name = &observed.name;
        match client
            .delete_repository()
            .repository_name(name)
            .force(policy::wants_force_delete(self))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) if is_not_found(&e, &["RepositoryNotEmptyException"]) => {
                Err(AwsError::terminal(
                    "RepositoryNotEmptyException",
                    format!(
                        "repository {name:?} still holds images, so it is not deleted; delete \
                         them, or annotate {}=\"true\" to have them deleted with it",
                        policy::FORCE_DELETE
                    ),
                ))
            }
            Err(e) => Err(from_sdk(e)),
        }
    }

    /// A repository is usable as soon as it exists.
    fn readiness(_observed: &ObservedRepository) -> Readiness {
        Readiness::Ready
    }

    fn arn(observed: &ObservedRepository) -> Option<String> {
        Some(observed.arn.clone()).filter(|a| !a.is_empty())
    }

    fn status_fields(observed: &ObservedRepository) -> RepositoryStatusFields {
        RepositoryStatusFields {
            repository_name: Some(observed.name.clone()),
            repository_uri: Some(observed.uri.clone()),
        }
    }

    fn outputs(observed: &ObservedRepository) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("repositoryName".to_owned(), observed.name.clone()),
            ("repositoryARN".to_owned(), observed.arn.clone()),
            ("repositoryURL".to_owned(), observed.uri.clone()),
        ])
    }

    fn user_tags(&self) -> BTreeMap<String, String> {
        self.spec.tags.clone()
    }

    fn planned(change: &Change, observed: &ObservedRepository) -> PlannedChange {
        diff::planned(change, observed)
    }

    async fn export(client: &Client, prefix: &str) -> Option<Result<Vec<Self>, AwsError>> {
        Some(exported(client, prefix).await)
    }
}

/// Every repository whose name starts with `prefix` (DescribeRepositories takes exact names
/// only), as an `ECRRepository` describing it, its policies too.
#[instrument(skip_all, fields(prefix = %prefix))]
async fn exported(client: &Client, prefix: &str) -> Result<Vec<ECRRepository>, AwsError> {
    let listed: Vec<ecr::Repository> = client
        .describe_repositories()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(from_sdk)?;
    let mut repositories = Vec::new();
    for repo in listed
        .iter()
        .filter(|r| r.repository_name().is_some_and(|n| n.starts_with(prefix)))
    {
        let mut observed = observed_repository(repo);
        observed.tags = list_tags(client, &observed.arn).await?;
        observed.lifecycle_policy = lifecycle_policy(client, &observed.name).await?;
        observed.repository_policy = repository_policy(client, &observed.name).await?;
        repositories.push(ECRRepository::new(
            &ownership::object_name(&observed.name),
            diff::exported_spec(&observed),
        ));
    }
    Ok(repositories)
}

/// Translates ECR's description into the spec's terms; tags and policies take calls of their own.
fn observed_repository(repo: &ecr::Repository) -> ObservedRepository {
    ObservedRepository {
        name: repo.repository_name().unwrap_or_default().to_owned(),
        arn: repo.repository_arn().unwrap_or_default().to_owned(),
        uri: repo.repository_uri().unwrap_or_default().to_owned(),
        registry_id: repo.registry_id().unwrap_or_default().to_owned(),
        image_tag_mutability: repo.image_tag_mutability().and_then(|m| match m {
            ecr::ImageTagMutability::Mutable => Some(ImageTagMutability::Mutable),
            ecr::ImageTagMutability::Immutable => Some(ImageTagMutability::Immutable),
            _ => None,
        }),
        scan_on_push: repo
            .image_scanning_configuration()
            .is_some_and(|c| c.scan_on_push()),
        encryption: repo.encryption_configuration().and_then(|c| {
            let encryption_type = match c.encryption_type() {
                ecr::EncryptionType::Aes256 => EncryptionType::Aes256,
                ecr::EncryptionType::Kms => EncryptionType::Kms,
                // KMS_DSSE and later types the spec cannot name.
                _ => return None,
            };
            Some(Encryption {
                encryption_type,
                kms_key: c.kms_key().map(str::to_owned),
            })
        }),
        ..Default::default()
    }
}

/// The lifecycle policy's text; `None` when the repository has none.
async fn lifecycle_policy(client: &Client, name: &str) -> Result<Option<String>, AwsError> {
    match client
        .get_lifecycle_policy()
        .repository_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.lifecycle_policy_text),
        Err(e) if is_not_found(&e, &["LifecyclePolicyNotFoundException"]) => Ok(None),
        Err(e) => Err(from_sdk(e)),
    }
}

/// The repository policy's text; `None` when the repository has none.
async fn repository_policy(client: &Client, name: &str) -> Result<Option<String>, AwsError> {
    match client
        .get_repository_policy()
        .repository_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.policy_text),
        Err(e) if is_not_found(&e, &["RepositoryPolicyNotFoundException"]) => Ok(None),
        Err(e) => Err(from_sdk(e)),
    }
}

/// Writes one change.
async fn apply(
    client: &Client,
    observed: &ObservedRepository,
    change: Change,
) -> Result<(), AwsError> {
    let name = &observed.name;
    match change {
        Change::ImageTagMutability(mutability) => {
            client
                .put_image_tag_mutability()
                .repository_name(name)
                .image_tag_mutability(sdk_mutability(mutability))
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Change::ScanOnPush(scan) => {
            client
                .put_image_scanning_configuration()
                .repository_name(name)
                .image_scanning_configuration(
                    ecr::ImageScanningConfiguration::builder()
                        .scan_on_push(scan)
                        .build(),
                )
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Change::LifecyclePolicy(Some(text)) => {
            client
                .put_lifecycle_policy()
                .repository_name(name)
                .lifecycle_policy_text(text)
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Change::LifecyclePolicy(None) => {
            client
                .delete_lifecycle_policy()
                .repository_name(name)
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Change::RepositoryPolicy(Some(text)) => {
            client
                .set_repository_policy()
                .repository_name(name)
                .policy_text(text)
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Change::RepositoryPolicy(None) => {
            client
                .delete_repository_policy()
                .repository_name(name)
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Change::Tags { set, remove } => {
            if !remove.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(&observed.arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            if !set.is_empty() {
                client
                    .tag_resource()
                    .resource_arn(&observed.arn)
                    .set_tags(Some(sdk_tags(&set)?))
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
        }
    }
    Ok(())
}

async fn list_tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

fn sdk_mutability(m: ImageTagMutability) -> ecr::ImageTagMutability {
    match m {
        ImageTagMutability::Mutable => ecr::ImageTagMutability::Mutable,
        ImageTagMutability::Immutable => ecr::ImageTagMutability::Immutable,
    }
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DescribeRepositories' answer, through the translation `observe` and export share.
    #[test]
    fn a_described_repository_exports_with_its_encryption() {
        let repo = ecr::Repository::builder()
            .repository_name("team/app")
            .repository_arn("arn:aws:ecr:us-east-1:123456789012:repository/team/app")
            .image_tag_mutability(ecr::ImageTagMutability::Immutable)
            .image_scanning_configuration(
                ecr::ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .encryption_configuration(
                ecr::EncryptionConfiguration::builder()
                    .encryption_type(ecr::EncryptionType::Kms)
                    .kms_key("arn:aws:kms:us-east-1:123456789012:key/1234")
                    .build()
                    .unwrap(),
            )
            .build();
        let observed = observed_repository(&repo);
        let spec = diff::exported_spec(&observed);
        assert_eq!(
            spec.image_tag_mutability,
            Some(ImageTagMutability::Immutable)
        );
        assert_eq!(spec.scan_on_push, Some(true));
        assert_eq!(
            spec.encryption.as_ref().map(|e| e.encryption_type),
            Some(EncryptionType::Kms)
        );
        assert_eq!(
            ECRRepository::new(&ownership::object_name(&observed.name), spec.clone())
                .metadata
                .name
                .as_deref(),
            Some("team-app")
        );
        assert_eq!(diff::diff(&spec, &observed, &BTreeMap::new()), vec![]);
    }
}
