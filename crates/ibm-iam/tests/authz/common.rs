//! An emulator with the example seed, a fresh service ID with a policy, and helpers.

use std::sync::Arc;

use ibm_iam::authz::{CacheConfig, Decision, PdpClient, PdpClientBuilder, Resource, Subject};
use ibm_iam::clock::{Clock, ManualClock};
use ibm_iam::{Error, TokenManager};
use ibm_iam_emulator::{Emulator, RunningEmulator, Seed};
use serde_json::{Value, json};

pub const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
pub const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
pub const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";

pub struct World {
    pub emu: RunningEmulator,
    pub admin: String,
}

pub async fn world() -> World {
    let emu = Emulator::builder()
        .seed(
            Seed::from_json(include_str!("../../../ibm-iam-emulator/examples/seed.json"))
                .expect("seed"),
        )
        .start()
        .await
        .expect("emulator");
    // Alice owns the seed account: she administers policies.
    let admin = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(emu.url())
        .build()
        .expect("tm");
    let admin = admin
        .get_token()
        .await
        .expect("admin token")
        .expose_secret()
        .to_owned();
    World { emu, admin }
}

/// [`world`] with a service ID "reader" that may read every books resource in the seed
/// account: the world and the reader's IAM id.
pub async fn world_with_reader() -> (World, String) {
    let w = world().await;
    let reader = w.service_id("reader").await;
    w.policy(
        &reader,
        READER,
        &[("accountId", ACCOUNT), ("serviceName", "books")],
    )
    .await;
    (w, reader)
}

impl World {
    /// A new service ID in the seed account (no policies yet): its IAM id.
    pub async fn service_id(&self, name: &str) -> String {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/v1/serviceids/", self.emu.url()))
            .bearer_auth(&self.admin)
            .json(&json!({"account_id": ACCOUNT, "name": name}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        v["iam_id"]
            .as_str()
            .unwrap_or_else(|| panic!("service id: {v}"))
            .to_owned()
    }

    /// A v1 access policy: `role` for `iam_id` on `resource` attributes.
    pub async fn policy(&self, iam_id: &str, role: &str, resource: &[(&str, &str)]) -> String {
        let attrs: Vec<Value> = resource
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/policies", self.emu.url()))
            .bearer_auth(&self.admin)
            .json(&json!({
                "type": "access",
                "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
                "roles": [{"role_id": role}],
                "resources": [{"attributes": attrs}],
            }))
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let v: Value = resp.json().await.expect("json");
        assert!(status.is_success(), "policy: {status} {v}");
        v["id"].as_str().expect("policy id").to_owned()
    }

    pub fn pdp_calls(&self) -> u64 {
        self.emu.state().counters().get("/v2/authz")
    }

    pub fn bulk_calls(&self) -> u64 {
        self.emu.state().counters().get("/v2/authz/bulk")
    }

    /// A PdpClient with the books-backend service's credentials and a manual clock.
    pub fn client(&self, clock: &ManualClock, cache: CacheConfig) -> PdpClient {
        self.client_with(clock, cache, |b| b)
    }

    /// [`Self::client`], with more settings.
    pub fn client_with(
        &self,
        clock: &ManualClock,
        cache: CacheConfig,
        more: impl FnOnce(PdpClientBuilder) -> PdpClientBuilder,
    ) -> PdpClient {
        let tokens = TokenManager::builder()
            .api_key(BOOKS_KEY)
            .endpoint_url(self.emu.url())
            .build()
            .expect("tm");
        more(
            PdpClient::builder(tokens)
                .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
                .cache(cache),
        )
        .build()
        .expect("pdp")
    }

    pub async fn fault(&self, rule: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/_emulator/faults", self.emu.url()))
            .json(&rule)
            .send()
            .await
            .expect("fault");
        assert_eq!(r.status(), 201);
    }

    pub async fn clear_faults(&self) {
        reqwest::Client::new()
            .delete(format!("{}/_emulator/faults", self.emu.url()))
            .send()
            .await
            .expect("clear");
    }
}

pub const READER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Reader";
pub const WRITER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Writer";

pub fn subject(iam_id: &str) -> Subject {
    Subject::attributes(iam_id, "ibm openid")
}

pub fn instance(i: &str) -> Resource {
    Resource::builder()
        .service_name("books")
        .account_id(ACCOUNT)
        .service_instance(i)
        .build()
}

/// A read check of instance `i` by `iam_id`, as a future that owns a clone of `pdp`: for
/// spawning, so that many checks are in flight at once.
pub fn read_check(
    pdp: &PdpClient,
    iam_id: &str,
    i: &str,
) -> impl Future<Output = Result<Decision, Error>> + Send + 'static {
    let (pdp, who, what) = (pdp.clone(), subject(iam_id), instance(i));
    async move { pdp.is_authorized(&who, "books.book.read", &what).await }
}
