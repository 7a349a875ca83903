//! Between the store layer's words and the wire's: objects, their metadata, and errors
//! (`docs/spec/wire-v1.md`, "Parts": the failure table). The wire names objects on its own so
//! that `swarm-wire` depends on nothing of ours; this is the one place that translates.

use std::io;

use swarm_core::ids::{Hash32, StoreId};
use swarm_store::{
    LockName, ManifestName, Object, ObjectMeta, StagingName, StoreError, Unavailable,
};
use swarm_wire::{Failure, Meta, ObjectName, PlainName, Reason, Why};

pub fn to_wire(object: &Object) -> Option<ObjectName> {
    Some(match object {
        Object::Marker => ObjectName::Marker,
        Object::Manifest(ManifestName(h)) => ObjectName::Manifest(h.0),
        Object::Shard(h) => ObjectName::Shard(h.0),
        // Names a listing found: one that is not a plain name of at most 255 bytes cannot be
        // sent, and is listed as a stray instead.
        Object::Staging(name) => ObjectName::Staging(PlainName::new(name.as_str()).ok()?),
        Object::Lock(name) => ObjectName::Lock(PlainName::new(name.as_str()).ok()?),
    })
}

/// The store's object a wire name means; `None` for a staging or lock name the store would
/// never have written.
pub fn from_wire(object: &ObjectName) -> Option<Object> {
    Some(match object {
        ObjectName::Marker => Object::Marker,
        ObjectName::Manifest(h) => Object::Manifest(ManifestName(Hash32(*h))),
        ObjectName::Shard(h) => Object::Shard(Hash32(*h)),
        ObjectName::Staging(name) => Object::Staging(StagingName::new(name.as_str())?),
        ObjectName::Lock(name) => Object::Lock(LockName::new(name.as_str())?),
    })
}

pub fn meta_to_wire(meta: &ObjectMeta) -> Meta {
    Meta::new(meta.size, meta.modified)
}

pub fn meta_from_wire(meta: &Meta) -> ObjectMeta {
    ObjectMeta {
        size: meta.size,
        modified: meta.modified(),
    }
}

fn why_to_wire(why: &Unavailable) -> Why {
    match why {
        Unavailable::Silent(_) => Why::Silent,
        Unavailable::Refused(_) => Why::Refused,
        Unavailable::Unconfigured(_) => Why::Unconfigured,
        Unavailable::Absent(_) => Why::Absent,
        Unavailable::NotInitialised(_) => Why::NotInitialised,
        Unavailable::Foreign(_) => Why::Foreign,
    }
}

fn why_from_wire(why: Why, reason: String) -> Unavailable {
    match why {
        Why::Silent => Unavailable::Silent(reason),
        Why::Refused => Unavailable::Refused(reason),
        Why::Unconfigured => Unavailable::Unconfigured(reason),
        Why::Absent => Unavailable::Absent(reason),
        Why::NotInitialised => Unavailable::NotInitialised(reason),
        Why::Foreign => Unavailable::Foreign(reason),
    }
}

/// What a node answers when its store fails a request.
pub fn failure_of(e: &StoreError) -> Failure {
    match e {
        StoreError::NotFound { .. } => Failure::NotFound,
        // The store does not say how large: at least one byte past the cap.
        StoreError::TooLarge { max, .. } => Failure::TooLarge {
            size: max.saturating_add(1),
            max: *max,
        },
        StoreError::Unavailable { why, .. } => Failure::Unavailable {
            why: why_to_wire(why),
            reason: Reason::cut(why.reason()),
        },
        StoreError::Full { detail, .. } => Failure::Full {
            reason: Reason::cut(detail),
        },
        StoreError::Config { reason, .. } => Failure::Unavailable {
            why: Why::Unconfigured,
            reason: Reason::cut(reason),
        },
        StoreError::Io { transient, .. } => Failure::internal(&e.to_string(), *transient),
        StoreError::Stray { .. } | StoreError::Corrupt { .. } => {
            Failure::internal(&e.to_string(), false)
        }
    }
}

/// What a peer store makes of a node's failure (the spec's table).
pub fn store_error(store: &StoreId, op: &'static str, object: &Object, f: Failure) -> StoreError {
    let io = |text: String, transient| StoreError::Io {
        store: store.clone(),
        op,
        object: object.to_string(),
        source: io::Error::other(text),
        transient,
    };
    match f {
        Failure::NotFound => StoreError::NotFound {
            store: store.clone(),
            object: object.clone(),
        },
        Failure::TooLarge { max, .. } => StoreError::TooLarge {
            store: store.clone(),
            object: object.clone(),
            max,
        },
        Failure::Refused { reason } => StoreError::Unavailable {
            store: store.clone(),
            why: Unavailable::Refused(format!("the node refused: {reason}")),
        },
        Failure::Full { reason } => StoreError::Full {
            store: store.clone(),
            detail: reason.to_string(),
        },
        Failure::Unavailable { why, reason } => StoreError::Unavailable {
            store: store.clone(),
            why: why_from_wire(why, reason.to_string()),
        },
        Failure::BadRequest { what } => io(format!("the node says: bad request: {what}"), false),
        Failure::Internal { reason, transient } => {
            io(format!("the node failed: {reason}"), transient)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn objects_cross_both_ways() {
        let lock = format!("shared-{}", "ab".repeat(16));
        for o in [
            Object::Marker,
            Object::manifest_of(b"SHA256E-s1--00"),
            Object::Shard(Hash32::of(b"x")),
            Object::Lock(LockName::new(&lock).unwrap()),
            Object::Staging(StagingName::new("123.4.x").unwrap()),
        ] {
            assert_eq!(from_wire(&to_wire(&o).unwrap()).unwrap(), o);
        }
        let odd = ObjectName::Lock(PlainName::new("not-a-lock").unwrap());
        assert_eq!(from_wire(&odd), None);
    }

    #[test]
    fn failures_keep_their_meaning() {
        let id: StoreId = "s".parse().unwrap();
        let o = Object::Shard(Hash32::of(b"x"));
        let back = |e: StoreError| store_error(&id, "read", &o, failure_of(&e));
        assert!(
            back(StoreError::NotFound {
                store: id.clone(),
                object: o.clone()
            })
            .is_not_found()
        );
        let e = back(StoreError::Unavailable {
            store: id.clone(),
            why: Unavailable::NotInitialised("no marker".into()),
        });
        assert_eq!(
            e.unavailable(),
            Some(&Unavailable::NotInitialised("no marker".into()))
        );
        let e = back(StoreError::Io {
            store: id.clone(),
            op: "read",
            object: o.to_string(),
            source: io::Error::other("disk"),
            transient: true,
        });
        assert!(e.is_transient(), "{e}");
        assert!(matches!(
            back(StoreError::TooLarge {
                store: id.clone(),
                object: o.clone(),
                max: 9
            }),
            StoreError::TooLarge { max: 9, .. }
        ));
    }
}
