//! Object paths inside a store, the same for every kind (`docs/spec/store-layout-v1.md`):
//!
//! ```text
//! annex-swarm-store.toml        marker: swarm id and store id
//! manifests/<2 hex>/<64 hex>    manifest name (BLAKE3-derive-key of the key)
//! shards/<2 hex>/<64 hex>       BLAKE3 of the shard bytes
//! tmp/<name>                    writes being staged (kinds without atomic puts)
//! ```
//! Only store kinds use this module: everything above names objects ([`Object`]).

use swarm_core::ids::Hash32;

use crate::object::{Class, LockName, ManifestName, Object, StagingName};

pub const MARKER: &str = "annex-swarm-store.toml";
pub const MANIFESTS: &str = "manifests";
pub const SHARDS: &str = "shards";
/// Where writes are staged before being renamed into place.
pub const TMP: &str = "tmp";
/// Where remote kinds keep `touch` sidecars.
pub const TOUCHED: &str = "touched";
/// Lock records.
pub const LOCKS: &str = "locks";

/// The directory of a class.
pub fn dir(class: Class) -> &'static str {
    match class {
        Class::Manifests => MANIFESTS,
        Class::Shards => SHARDS,
        Class::Staging => TMP,
        Class::Locks => LOCKS,
    }
}

/// The path of an object, relative to the store's root.
pub fn path(object: &Object) -> String {
    match object {
        Object::Marker => MARKER.to_owned(),
        Object::Manifest(ManifestName(h)) => fanned(MANIFESTS, h),
        Object::Shard(h) => fanned(SHARDS, h),
        Object::Staging(name) => format!("{TMP}/{}", name.as_str()),
        Object::Lock(name) => format!("{LOCKS}/{}", name.as_str()),
    }
}

fn fanned(dir: &str, h: &Hash32) -> String {
    let h = h.to_hex();
    format!("{dir}/{}/{h}", &h[..2])
}

/// The object a path of `class` names, if it is one written by this layout (the fan-out
/// directory must match the name, and the name must be lower-case hex).
pub fn parse(class: Class, path: &str) -> Option<Object> {
    let rest = path.strip_prefix(dir(class))?.strip_prefix('/')?;
    match class {
        Class::Staging => StagingName::new(rest).map(Object::Staging),
        Class::Locks => LockName::new(rest).map(Object::Lock),
        Class::Manifests | Class::Shards => {
            let (fan, name) = rest.split_once('/')?;
            let lower_hex = name.len() == 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !lower_hex || name.get(..2) != Some(fan) {
                return None;
            }
            let h: Hash32 = name.parse().ok()?;
            Some(match class {
                Class::Manifests => Object::Manifest(ManifestName(h)),
                _ => Object::Shard(h),
            })
        }
    }
}

/// A unique name for a staged write of `object` by this process.
pub fn staging_name(object: &Object, n: u64) -> StagingName {
    let p = path(object);
    let last = p.rsplit('/').next().unwrap_or("obj");
    // A pid, a counter and a hex name: always one plain path component.
    StagingName::trusted(format!("{}.{n}.{last}", std::process::id()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_strangers_are_refused() {
        let h = Hash32::of(b"x");
        for o in [
            Object::Shard(h),
            Object::Manifest(ManifestName(h)),
            Object::Staging(StagingName::new("1.2.abc").unwrap()),
            Object::Lock(LockName::new("shared-0123456789abcdef0123456789abcdef").unwrap()),
        ] {
            let p = path(&o);
            assert_eq!(parse(o.class().unwrap(), &p), Some(o), "{p}");
        }
        let hex = h.to_hex();
        for bad in [
            format!("shards/00/{hex}"),
            format!("shards/{}/{}", &hex[..2], hex.to_uppercase()),
            format!("shards/{}/{hex}/x", &hex[..2]),
            format!("shards/{hex}"),
            "shards/ab/short".to_owned(),
            format!("manifests/{}/{hex}", &hex[..2]),
        ] {
            assert_eq!(parse(Class::Shards, &bad), None, "{bad}");
        }
        assert_eq!(parse(Class::Staging, "tmp/a/b"), None);
        assert_eq!(parse(Class::Staging, "tmp/.."), None);
    }

    #[test]
    fn manifest_names_are_pinned() {
        // The name of a key's manifest must never change: stores are found by it.
        let o = Object::manifest_of(b"WORM-s5-m1--hello");
        assert_eq!(
            path(&o),
            "manifests/6d/6d2b28db155ad3e32c12ad1ea7ec2b1d6517b0a774ec1582ca881c17fff595e2"
        );
    }
}
