//! What the Identity management APIs share: the `context` object, timestamps and entity
//! tags of records, and offset pagination (`pagesize`, `pagetoken`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::context::Ctx;
use super::errors::IamError;
use crate::civil;
use crate::identity::model::{Meta, entity_tag};

/// The `context` object of Identity API responses.
pub fn context(ctx: &Ctx, operation: &str, now_ms: i64) -> Value {
    json!({
        "transaction_id": ctx.txid,
        "operation": operation,
        "user_agent": ctx.user_agent,
        "url": ctx.url,
        "instance_id": "ibm-iam-emulator",
        "thread_id": "1",
        "host": "ibm-iam-emulator",
        "start_time": civil::rfc3339_ms(ctx.start_ms),
        "end_time": civil::rfc3339_ms(now_ms),
        "elapsed_time": (now_ms - ctx.start_ms).max(0).to_string(),
        "cluster_name": "ibm-iam-emulator",
    })
}

/// The bookkeeping fields every record carries.
pub fn meta_fields(meta: &Meta, id: &str) -> Value {
    json!({
        "entity_tag": entity_tag(meta, id),
        "created_at": civil::rfc3339_ms(meta.created_at),
        "modified_at": civil::rfc3339_ms(meta.modified_at),
        "created_by": meta.created_by,
        "history": [],
    })
}

/// Merges the fields of `extra` into `base` (both objects).
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// `pagesize` and `pagetoken` query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    /// Items per page, 1-100 (default 20).
    pub pagesize: Option<String>,
    /// Opaque continuation token (here: the offset).
    pub pagetoken: Option<String>,
}

impl Page {
    /// Validated (offset, limit).
    pub fn bounds(&self) -> Result<(usize, usize), IamError> {
        let limit = match &self.pagesize {
            None => 20,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    IamError::bad_request("'pagesize' must be a number from 1 to 100")
                })?,
        };
        let offset = match &self.pagetoken {
            None => 0,
            Some(s) => s.parse::<usize>().map_err(|_| {
                IamError::bad_request("'pagetoken' is not a token this server issued")
            })?,
        };
        Ok((offset, limit))
    }
}

/// A page of `items` under `key`, with `offset`, `limit`, `first`, `previous`, `next`.
pub fn page(
    ctx: &Ctx,
    operation: &str,
    now_ms: i64,
    key: &str,
    items: Vec<Value>,
    offset: usize,
    limit: usize,
) -> Value {
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let link = |o: usize| format!("{}?pagetoken={o}&pagesize={limit}", ctx.url);
    let mut v = json!({
        "context": context(ctx, operation, now_ms),
        "offset": offset,
        "limit": limit,
        "first": link(0),
        key: slice,
    });
    if let Some(obj) = v.as_object_mut() {
        if offset > 0 {
            obj.insert("previous".into(), json!(link(offset.saturating_sub(limit))));
        }
        if offset + limit < total {
            obj.insert("next".into(), json!(link(offset + limit)));
        }
    }
    v
}
