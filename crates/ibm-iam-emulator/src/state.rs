//! The emulator's shared state: identities, signing keys, clock, settings, faults, counters,
//! and the state file that makes changes durable.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use crate::clock::Clock;
use crate::control::counters::Counters;
use crate::control::faults::Faults;
use crate::identity::model::Meta;
use crate::identity::seed::{Seed, SeedError};
use crate::identity::store::{NewApiKey, Store, StoreError};
use crate::ids;
use crate::keys::{KeyError, KeyRing, Maintenance, RotationPolicy};
use crate::persist::{self, PersistError, Snapshot};
use crate::policy::model::{
    ApiVersion, AttrCondition, Policy, PolicySubject, SERVICE_TYPE_PLATFORM, StringOp, StringValue,
    platform_role_crn,
};

/// Production's issuer: the default, so that applications which check `iss` work unchanged.
pub const DEFAULT_ISSUER: &str = "https://iam.cloud.ibm.com/identity";
/// The account that `--apikey` identities are created in.
pub const DEFAULT_ACCOUNT_ID: &str = "def0a17acc0a17def0a17acc0a17def0";
/// Default access-token lifetime, seconds (IAM's).
pub const DEFAULT_TOKEN_LIFETIME: i64 = 3600;

/// How to start an emulator.
#[derive(Debug, Default)]
pub struct EmulatorOptions {
    /// `iss` of issued tokens; [`DEFAULT_ISSUER`] when `None`.
    pub issuer: Option<String>,
    /// Access-token lifetime in seconds; the seed's or [`DEFAULT_TOKEN_LIFETIME`] when `None`.
    pub token_lifetime_seconds: Option<i64>,
    /// Identities to create on a fresh start.
    pub seed: Option<Seed>,
    /// API keys, each given to a new service ID in [`DEFAULT_ACCOUNT_ID`] that holds an
    /// Administrator policy on the account's management services (idempotent across restarts
    /// with a state file).
    pub apikeys: Vec<String>,
    /// Persist every change to this file, and load it at start when it exists.
    pub state_file: Option<PathBuf>,
    /// Key rotation.
    pub rotation: Option<RotationPolicy>,
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The seed file is invalid.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The state file could not be read or written.
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// A signing key could not be made or loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An `--apikey` could not be created.
    #[error("--apikey: {0}")]
    ApiKey(StoreError),
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// A change that could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The store refused the change.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the state file failed; the change was rolled back.
    #[error("the change could not be saved: {0}")]
    Persist(#[from] PersistError),
    /// Making a key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The shared state behind every route. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EmulatorState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: RwLock<Store>,
    keys: RwLock<Arc<KeyRing>>,
    rotation: Mutex<RotationPolicy>,
    clock: Clock,
    issuer: String,
    token_lifetime: AtomicI64,
    faults: Faults,
    counters: Counters,
    state_file: Option<PathBuf>,
    /// Serializes changes and their writes, so the file always holds a prefix of them.
    commit_lock: tokio::sync::Mutex<()>,
    instance_id: String,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

impl EmulatorState {
    /// Builds the state: from the state file when it exists, otherwise from the seed and the
    /// API keys (and then writes the state file, when one is configured).
    pub fn new(options: EmulatorOptions) -> Result<Self, StartError> {
        let clock = Clock::new();
        let issuer = options
            .issuer
            .clone()
            .or_else(|| options.seed.as_ref().and_then(|s| s.issuer.clone()))
            .unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(StartError::Invalid(format!(
                "the issuer must be an http(s) URL, not '{issuer}'"
            )));
        }
        let loaded = match &options.state_file {
            Some(path) => persist::load(path)?,
            None => None,
        };
        let fresh = loaded.is_none();
        let (mut store, ring, mut lifetime, mut rotation) = match loaded {
            Some(snap) => {
                let mut store = snap.store;
                store.reindex();
                if options.seed.is_some() {
                    tracing::info!("state file exists; the seed file is not applied again");
                }
                (
                    store,
                    KeyRing::from_stored(&snap.keys)?,
                    snap.token_lifetime_seconds,
                    snap.rotation,
                )
            }
            None => {
                let mut store = Store::default();
                if let Some(seed) = &options.seed {
                    seed.apply(&mut store, clock.now_ms())?;
                }
                let lifetime = options
                    .seed
                    .as_ref()
                    .and_then(|s| s.token_lifetime_seconds)
                    .map_or(DEFAULT_TOKEN_LIFETIME, |s| {
                        i64::try_from(s).unwrap_or(i64::MAX)
                    });
                (
                    store,
                    KeyRing::generate(clock.now())?,
                    lifetime,
                    RotationPolicy::default(),
                )
            }
        };
        if let Some(l) = options.token_lifetime_seconds {
            lifetime = l;
        }
        if let Some(r) = options.rotation {
            rotation = r;
        }
        validate_lifetime(lifetime).map_err(StartError::Invalid)?;
        if let Some(every) = rotation.every_seconds
            && every < 1
        {
            return Err(StartError::Invalid(
                "the rotation period must be at least 1 second".into(),
            ));
        }
        let mut changed = fresh;
        for (i, value) in options.apikeys.iter().enumerate() {
            changed |= ensure_cli_apikey(&mut store, value, i + 1, clock.now_ms())?;
        }
        let state = Self {
            inner: Arc::new(Inner {
                store: RwLock::new(store),
                keys: RwLock::new(Arc::new(ring)),
                rotation: Mutex::new(rotation),
                clock,
                issuer,
                token_lifetime: AtomicI64::new(lifetime),
                faults: Faults::default(),
                counters: Counters::default(),
                state_file: options.state_file,
                commit_lock: tokio::sync::Mutex::new(()),
                instance_id: format!("ibm-iam-emulator/{}", std::process::id()),
            }),
        };
        if changed && let Some(path) = &state.inner.state_file {
            persist::write_atomic(path, &state.snapshot_bytes()?)?;
        }
        Ok(state)
    }

    /// The issuer (`iss`) of tokens.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Fault rules.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Request counters.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// An identifier of this emulator process, for error contexts.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Access-token lifetime, seconds.
    pub fn token_lifetime(&self) -> i64 {
        self.inner.token_lifetime.load(Ordering::Relaxed)
    }

    /// The current rotation policy.
    pub fn rotation(&self) -> RotationPolicy {
        *self
            .inner
            .rotation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Read access to the identities.
    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        read(&self.inner.store)
    }

    /// The published keys as they are now (no maintenance).
    pub fn key_ring(&self) -> Arc<KeyRing> {
        read(&self.inner.keys).clone()
    }

    /// The published keys after any rotation or withdrawal that is due at the emulator's
    /// current time. Rotation is evaluated lazily, so a clock shift takes effect at the next
    /// request.
    pub async fn keys(&self) -> Result<Arc<KeyRing>, CommitError> {
        let ring = self.key_ring();
        let now = self.clock().now();
        if ring.due(&self.rotation(), now) == Maintenance::None {
            return Ok(ring);
        }
        let _guard = self.inner.commit_lock.lock().await;
        let ring = self.key_ring();
        let policy = self.rotation();
        let next = match ring.due(&policy, now) {
            Maintenance::None => return Ok(ring),
            Maintenance::Withdraw => Arc::new(ring.withdrawn(&policy, now)),
            Maintenance::Rotate => {
                let rotated = generate_off_thread(ring.clone(), now).await?;
                Arc::new(rotated.withdrawn(&policy, now))
            }
        };
        self.swap_keys_and_save(ring, next.clone()).await?;
        Ok(next)
    }

    /// Rotates now: a new key signs, the old one stays published for the overlap window.
    pub async fn rotate_keys(&self) -> Result<Arc<KeyRing>, CommitError> {
        let _guard = self.inner.commit_lock.lock().await;
        let ring = self.key_ring();
        let now = self.clock().now();
        let next = Arc::new(generate_off_thread(ring.clone(), now).await?);
        self.swap_keys_and_save(ring, next.clone()).await?;
        Ok(next)
    }

    async fn swap_keys_and_save(
        &self,
        old: Arc<KeyRing>,
        next: Arc<KeyRing>,
    ) -> Result<(), CommitError> {
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
        if let Err(e) = self.save().await {
            *self
                .inner
                .keys
                .write()
                .unwrap_or_else(PoisonError::into_inner) = old;
            return Err(e.into());
        }
        Ok(())
    }

    /// Changes the rotation policy.
    pub async fn set_rotation(&self, policy: RotationPolicy) -> Result<(), CommitError> {
        let _guard = self.inner.commit_lock.lock().await;
        let old = std::mem::replace(
            &mut *self
                .inner
                .rotation
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            policy,
        );
        if let Err(e) = self.save().await {
            *self
                .inner
                .rotation
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = old;
            return Err(e.into());
        }
        Ok(())
    }

    /// Changes the access-token lifetime.
    pub async fn set_token_lifetime(&self, seconds: i64) -> Result<(), CommitError> {
        validate_lifetime(seconds).map_err(StoreError::Invalid)?;
        let _guard = self.inner.commit_lock.lock().await;
        let old = self.inner.token_lifetime.swap(seconds, Ordering::Relaxed);
        if let Err(e) = self.save().await {
            self.inner.token_lifetime.store(old, Ordering::Relaxed);
            return Err(e.into());
        }
        Ok(())
    }

    /// Applies a change to the identities and, with a state file, makes it durable before
    /// returning. A change is all or nothing: if `f` fails (even after changing part of the
    /// store, like a service ID created before its inline API key is refused) or the state
    /// cannot be encoded or written, the store is put back as it was and an error returned,
    /// so what is in memory is always what was acknowledged, and what is on disk.
    pub async fn change<T>(
        &self,
        f: impl FnOnce(&mut Store, i64) -> Result<T, StoreError>,
    ) -> Result<T, CommitError> {
        let _guard = self.inner.commit_lock.lock().await;
        let now_ms = self.clock().now_ms();
        let backup = self.store().clone();
        let restore = |old: Store| {
            *self
                .inner
                .store
                .write()
                .unwrap_or_else(PoisonError::into_inner) = old;
        };
        let out = {
            let mut store = self
                .inner
                .store
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            f(&mut store, now_ms)
        };
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                restore(backup);
                return Err(e.into());
            }
        };
        if let Err(e) = self.save().await {
            restore(backup);
            return Err(e.into());
        }
        Ok(out)
    }

    /// A change that only counts usage (no state-file write): applied in memory.
    pub fn touch(&self, f: impl FnOnce(&mut Store)) {
        f(&mut self
            .inner
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner));
    }

    fn snapshot_bytes(&self) -> Result<Vec<u8>, PersistError> {
        let snap = Snapshot {
            format: persist::FORMAT.into(),
            version: persist::VERSION,
            token_lifetime_seconds: self.token_lifetime(),
            rotation: self.rotation(),
            keys: self.key_ring().to_stored(),
            store: self.store().clone(),
        };
        persist::encode(&snap)
    }

    /// Writes the state file (the caller holds the commit lock).
    async fn save(&self) -> Result<(), PersistError> {
        let Some(path) = self.inner.state_file.clone() else {
            return Ok(());
        };
        let bytes = self.snapshot_bytes()?;
        match tokio::task::spawn_blocking(move || persist::write_atomic(&path, &bytes)).await {
            Ok(r) => r,
            Err(e) => Err(PersistError::Io {
                path: self.inner.state_file.clone().unwrap_or_default(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

fn validate_lifetime(seconds: i64) -> Result<(), String> {
    if (60..=86_400).contains(&seconds) {
        Ok(())
    } else {
        Err(format!(
            "the token lifetime must be 60 to 86400 seconds, not {seconds}"
        ))
    }
}

async fn generate_off_thread(ring: Arc<KeyRing>, now: i64) -> Result<KeyRing, CommitError> {
    tokio::task::spawn_blocking(move || ring.rotated(now))
        .await
        .map_err(|_| KeyError::Generate)?
        .map_err(CommitError::from)
}

/// Makes sure a service ID in the default account holds `value`; true when it was created.
fn ensure_cli_apikey(
    store: &mut Store,
    value: &str,
    n: usize,
    now_ms: i64,
) -> Result<bool, StartError> {
    if value.trim().is_empty() {
        return Err(StartError::ApiKey(StoreError::Invalid(
            "an API key must not be empty".into(),
        )));
    }
    if store.apikey_by_value(value).is_some() {
        return Ok(false);
    }
    store.ensure_account(DEFAULT_ACCOUNT_ID, "Default account");
    let meta = Meta {
        created_at: now_ms,
        modified_at: now_ms,
        created_by: "emulator".into(),
        version: 1,
    };
    let sid = store
        .add_service_id(None, &format!("apikey-{n}"), DEFAULT_ACCOUNT_ID, None, meta)
        .map_err(StartError::ApiKey)?;
    store
        .add_apikey(
            NewApiKey {
                name: format!("apikey-{n}"),
                iam_id: sid.iam_id(),
                value: Some(value.to_owned()),
                created_by: "emulator".into(),
                ..NewApiKey::default()
            },
            now_ms,
        )
        .map_err(StartError::ApiKey)?;
    store
        .policy
        .add_policy(bootstrap_admin_policy(&sid.iam_id(), now_ms))
        .map_err(StartError::ApiKey)?;
    Ok(true)
}

/// The policy that makes an `--apikey` identity an administrator of the default account's
/// account-management services (policies, roles, access groups), so that a script can
/// create policies with it right away.
fn bootstrap_admin_policy(iam_id: &str, now_ms: i64) -> Policy {
    let equals = |key: &str, value: &str| AttrCondition {
        key: key.to_owned(),
        operator: StringOp::StringEquals,
        value: StringValue::One(value.to_owned()),
    };
    Policy {
        id: ids::uuid(),
        api: ApiVersion::V2,
        policy_type: "access".into(),
        account_id: DEFAULT_ACCOUNT_ID.into(),
        subject: PolicySubject::IamId(iam_id.to_owned()),
        roles: vec![platform_role_crn("Administrator")],
        resource: vec![
            equals("accountId", DEFAULT_ACCOUNT_ID),
            equals("serviceType", SERVICE_TYPE_PLATFORM),
        ],
        tags: Vec::new(),
        rule: None,
        pattern: None,
        description: Some("Administrator of account management, for an --apikey identity".into()),
        meta: Meta {
            created_at: now_ms,
            modified_at: now_ms,
            created_by: "emulator".into(),
            version: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::errors::IamError;

    fn state(file: Option<PathBuf>) -> EmulatorState {
        EmulatorState::new(EmulatorOptions {
            state_file: file,
            apikeys: vec!["state-test-apikey-0123456789".into()],
            ..EmulatorOptions::default()
        })
        .expect("state")
    }

    /// Adds an account, then fails.
    fn half_done(store: &mut Store, _: i64) -> Result<(), StoreError> {
        store.ensure_account("half-done", "Half done");
        Err(StoreError::Invalid("refused after a partial change".into()))
    }

    #[tokio::test]
    async fn a_failing_change_leaves_memory_and_file_as_they_were() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        for file in [None, Some(path.clone())] {
            let s = state(file.clone());
            let before = file.as_ref().map(|p| std::fs::read(p).expect("state file"));
            let err = s.change(half_done).await.expect_err("refused");
            assert!(matches!(err, CommitError::Store(_)), "{err}");
            assert!(
                !s.store().accounts.contains_key("half-done"),
                "the partial change is undone ({file:?})"
            );
            assert_eq!(
                file.as_ref().map(|p| std::fs::read(p).expect("state file")),
                before
            );
            // The store still works, and its indexes too.
            assert!(
                s.store()
                    .apikey_by_value("state-test-apikey-0123456789")
                    .is_some()
            );
        }
    }

    #[tokio::test]
    async fn an_encoding_failure_is_a_500_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let s = state(Some(path.clone()));
        let before = std::fs::read(&path).expect("state file");
        assert!(!before.is_empty());

        persist::FAIL_ENCODING.with(|f| f.set(true));
        let err = s
            .change(|store, _| {
                store.ensure_account("never-saved", "Never saved");
                Ok(())
            })
            .await
            .expect_err("cannot be saved");
        let lifetime = s
            .set_token_lifetime(120)
            .await
            .expect_err("cannot be saved");
        persist::FAIL_ENCODING.with(|f| f.set(false));

        assert!(
            matches!(err, CommitError::Persist(PersistError::Encode(_))),
            "{err}"
        );
        assert!(matches!(lifetime, CommitError::Persist(_)), "{lifetime}");
        assert_eq!(
            std::fs::read(&path).expect("state file"),
            before,
            "the file is untouched, never emptied"
        );
        assert!(!s.store().accounts.contains_key("never-saved"));
        assert_eq!(s.token_lifetime(), DEFAULT_TOKEN_LIFETIME);
        let api = IamError::from(err);
        assert_eq!(api.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);

        // Once encoding works again, changes are saved as usual.
        s.change(|store, _| {
            store.ensure_account("saved", "Saved");
            Ok(())
        })
        .await
        .expect("saved");
        let snap = persist::load(&path).expect("load").expect("present");
        assert!(snap.store.accounts.contains_key("saved"));
    }
}
