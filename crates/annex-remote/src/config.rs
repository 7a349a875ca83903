//! The remote's configuration: initremote parameters become a swarm definition, and the
//! definition is kept in git-annex's `remote.log` (the git-annex branch) so that every clone
//! finds the same swarm after `git annex enableremote`. `docs/spec/remote-config-v1.md` is the
//! format. Pure: reading a definition file and preparing stores is the caller's work.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use swarm_core::definition::{DefinitionError, LocationError, SwarmDefinition, parse_location};
use swarm_core::ids::SwarmId;
use swarm_core::redact;
use swarm_core::units::{ByteSize, SizeError};

/// The remote.log field holding the embedded definition (set by INITREMOTE).
pub const DEFINITION_FIELD: &str = "swarmdefinition";
/// Format of the embedded definition: `1:` then the definition's TOML in base64url (padded, so
/// `basenc --base64url -d` reads it; padding is optional when decoding).
pub const EMBED_FORMAT: &str = "1";

/// Every parameter this remote takes, with the description LISTCONFIGS gives. git-annex
/// refuses initremote parameters that are not listed (and are not its own).
pub const PARAMETERS: [(&str, &str); 7] = [
    (
        "stores",
        "store directories of a new swarm, comma-separated (absolute paths or file:// URLs)",
    ),
    ("k", "data shards per chunk: any k stores restore a file"),
    ("m", "parity shards per chunk: how many stores may be lost"),
    (
        "shardsize",
        "target shard size of a new swarm (default 1MiB)",
    ),
    (
        "inlinethreshold",
        "smaller objects are stored whole inside their manifest (default 256KiB)",
    ),
    (
        "definition",
        "an annex-swarm definition file to use instead of stores=, k=, m= (its content is embedded)",
    ),
    (
        DEFINITION_FIELD,
        "set by initremote: the embedded swarm definition; not to be given by hand",
    ),
];

/// The values git-annex holds for [`PARAMETERS`] (empty strings count as unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub stores: Option<String>,
    pub k: Option<String>,
    pub m: Option<String>,
    pub shard_size: Option<String>,
    pub inline_threshold: Option<String>,
    pub definition: Option<String>,
    pub embedded: Option<String>,
}

impl Params {
    /// Builds from `(name, value)` pairs as GETCONFIG answers them.
    pub fn from_values<'a>(values: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut p = Params::default();
        for (name, value) in values {
            let v = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
            match name {
                "stores" => p.stores = v,
                "k" => p.k = v,
                "m" => p.m = v,
                "shardsize" => p.shard_size = v,
                "inlinethreshold" => p.inline_threshold = v,
                "definition" => p.definition = v,
                DEFINITION_FIELD => p.embedded = v,
                _ => {}
            }
        }
        p
    }

    fn new_swarm_given(&self) -> bool {
        self.stores.is_some()
            || self.k.is_some()
            || self.m.is_some()
            || self.shard_size.is_some()
            || self.inline_threshold.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no swarm given: use stores=DIR,DIR,... with k= and m= (e.g. k=4 m=2 over 6 directories), or definition=FILE"
    )]
    Nothing,
    #[error("give either definition=FILE or stores=/k=/m=, not both")]
    Both,
    #[error("{0}= is needed with stores= (e.g. k=4 m=2)")]
    MissingParam(&'static str),
    #[error("{name}={value}: not a whole number from 0 to 65535")]
    NotANumber { name: &'static str, value: String },
    #[error("k={0}: must be at least 1")]
    ZeroK(String),
    #[error("{name}={value}: {error}")]
    BadSize {
        name: &'static str,
        value: String,
        error: SizeError,
    },
    #[error("stores={0}: no store given")]
    NoStores(String),
    #[error("definition={path}: {error}")]
    DefinitionFile { path: String, error: std::io::Error },
    /// A stores= entry; `url` has its secrets masked.
    #[error("store `{url}`: {problem}")]
    BadStore { url: String, problem: StoreProblem },
    #[error("{0}")]
    Definition(#[from] DefinitionError),
    #[error("the embedded swarm definition ({DEFINITION_FIELD}=) is unreadable: {0}")]
    BadEmbedded(EmbeddedProblem),
    #[error(
        "this remote already uses swarm {swarm} ({what}); to change its stores, write a definition file with `annex-swarm` (same swarm id, higher version) and give definition=FILE"
    )]
    Conflict { swarm: SwarmId, what: String },
    #[error("definition file is for swarm {found}, but this remote uses swarm {ours}")]
    OtherSwarm { found: SwarmId, ours: SwarmId },
    #[error(
        "definition file has version {found}, older than the version {ours} this remote already uses"
    )]
    Older { found: u64, ours: u64 },
    #[error(
        "definition file differs from the one this remote uses but has the same version {0}; increase `version`"
    )]
    SameVersion(u64),
}

/// What is wrong with one store of stores=.
#[derive(Debug, thiserror::Error)]
pub enum StoreProblem {
    #[error("credentials do not belong in the store URL (it is stored in the git-annex branch)")]
    Credentials,
    #[error("give an absolute path: a relative one would mean another place in every clone")]
    Relative,
    #[error("listed twice")]
    Twice,
    #[error("{0}")]
    Location(LocationError),
}

/// Why the value of [`DEFINITION_FIELD`] cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedProblem {
    #[error("missing `{EMBED_FORMAT}:` format prefix")]
    NoFormat,
    #[error("format {0} is not supported (this build reads format {EMBED_FORMAT})")]
    Format(String),
    #[error("bad base64url: {0}")]
    Base64(base64::DecodeError),
    #[error("not UTF-8")]
    NotUtf8,
}

/// What INITREMOTE does with the stores.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A new swarm from stores=/k=/m=: every store is prepared (created, marked).
    Create(SwarmDefinition),
    /// A definition file (new to this remote, or a newer version of its definition): stores
    /// are prepared where needed (existing ones are only checked).
    Adopt(SwarmDefinition),
    /// The definition already embedded (enableremote, or initremote run again): stores are
    /// only checked, never created, so an empty mount point in this clone stays empty.
    Keep(SwarmDefinition),
}

impl Plan {
    pub fn definition(&self) -> &SwarmDefinition {
        match self {
            Plan::Create(d) | Plan::Adopt(d) | Plan::Keep(d) => d,
        }
    }
}

/// Decides what INITREMOTE does. `read_file` reads a definition= file (relative paths are
/// the caller's to resolve).
pub fn plan(
    params: &Params,
    read_file: impl FnOnce(&str) -> std::io::Result<String>,
) -> Result<Plan, ConfigError> {
    let existing = params
        .embedded
        .as_deref()
        .map(decode_definition)
        .transpose()?;
    if params.definition.is_some() && params.new_swarm_given() && existing.is_none() {
        return Err(ConfigError::Both);
    }
    if let Some(path) = &params.definition {
        let text = read_file(path).map_err(|error| ConfigError::DefinitionFile {
            path: path.clone(),
            error,
        })?;
        let def = SwarmDefinition::parse(&text)?;
        return match existing {
            None => Ok(Plan::Adopt(def)),
            Some(ours) => {
                if def.swarm != ours.swarm {
                    Err(ConfigError::OtherSwarm {
                        found: def.swarm,
                        ours: ours.swarm,
                    })
                } else if def == ours {
                    Ok(Plan::Keep(ours))
                } else if def.version < ours.version {
                    Err(ConfigError::Older {
                        found: def.version,
                        ours: ours.version,
                    })
                } else if def.version == ours.version {
                    Err(ConfigError::SameVersion(def.version))
                } else {
                    Ok(Plan::Adopt(def))
                }
            }
        };
    }
    if let Some(ours) = existing {
        check_unchanged(params, &ours)?;
        return Ok(Plan::Keep(ours));
    }
    if !params.new_swarm_given() {
        return Err(ConfigError::Nothing);
    }
    Ok(Plan::Create(new_definition(params)?))
}

/// A new definition (random swarm id) from stores=, k=, m= and the optional sizes.
pub fn new_definition(params: &Params) -> Result<SwarmDefinition, ConfigError> {
    let stores = params
        .stores
        .as_deref()
        .ok_or(ConfigError::MissingParam("stores"))?;
    let k = number(params.k.as_deref(), "k")?;
    let m = number(params.m.as_deref(), "m")?;
    let urls = store_urls(stores)?;
    let mut def = SwarmDefinition::from_urls(k, m, &urls)?;
    if let Some(s) = &params.shard_size {
        def.coding.shard_size = Some(size(s, "shardsize")?);
    }
    if let Some(s) = &params.inline_threshold {
        def.coding.inline_threshold = size(s, "inlinethreshold")?;
    }
    def.validate()?;
    Ok(def)
}

/// With a definition already embedded, stores=/k=/m= may only repeat it (git-annex passes the
/// stored parameters again on enableremote).
fn check_unchanged(params: &Params, ours: &SwarmDefinition) -> Result<(), ConfigError> {
    let conflict = |what: String| ConfigError::Conflict {
        swarm: ours.swarm,
        what,
    };
    if let Some(stores) = &params.stores {
        let urls = store_urls(stores)?;
        let have: Vec<&str> = ours.stores.iter().map(|s| s.url.as_str()).collect();
        if urls != have {
            return Err(conflict(format!("stores={}", have.join(","))));
        }
    }
    for (name, given, have) in [
        ("k", &params.k, ours.coding.k),
        ("m", &params.m, ours.coding.m),
    ] {
        if let Some(v) = given
            && number(Some(v), name)? != have
        {
            return Err(conflict(format!("{name}={have}")));
        }
    }
    for (name, given, have) in [
        ("shardsize", &params.shard_size, ours.shard_size()),
        (
            "inlinethreshold",
            &params.inline_threshold,
            ours.coding.inline_threshold,
        ),
    ] {
        if let Some(v) = given
            && size(v, name)? != have
        {
            return Err(conflict(format!("{name}={have}")));
        }
    }
    Ok(())
}

/// The stores= list: absolute paths or file:// URLs, no duplicates, no credentials.
fn store_urls(list: &str) -> Result<Vec<String>, ConfigError> {
    let mut urls: Vec<String> = Vec::new();
    for raw in list.split(',') {
        let url = raw.trim();
        if url.is_empty() {
            continue;
        }
        let bad = |problem| ConfigError::BadStore {
            url: redact::url(url),
            problem,
        };
        if let Some((_, rest)) = url.split_once("://")
            && rest
                .split('/')
                .next()
                .is_some_and(|auth| auth.contains('@'))
        {
            return Err(bad(StoreProblem::Credentials));
        }
        if !url.contains("://") && !url.starts_with('/') {
            return Err(bad(StoreProblem::Relative));
        }
        parse_location(url).map_err(|e| bad(StoreProblem::Location(e)))?;
        if urls.iter().any(|u| u == url) {
            return Err(bad(StoreProblem::Twice));
        }
        urls.push(url.to_owned());
    }
    if urls.is_empty() {
        return Err(ConfigError::NoStores(list.to_owned()));
    }
    Ok(urls)
}

fn number(v: Option<&str>, name: &'static str) -> Result<u16, ConfigError> {
    let v = v.ok_or(ConfigError::MissingParam(name))?;
    let n: u16 = v.parse().map_err(|_| ConfigError::NotANumber {
        name,
        value: v.to_owned(),
    })?;
    if name == "k" && n == 0 {
        return Err(ConfigError::ZeroK(v.to_owned()));
    }
    Ok(n)
}

fn size(v: &str, name: &'static str) -> Result<ByteSize, ConfigError> {
    v.parse::<ByteSize>().map_err(|error| ConfigError::BadSize {
        name,
        value: v.to_owned(),
        error,
    })
}

/// The value of [`DEFINITION_FIELD`]: `1:` and the definition's TOML in base64url (one word:
/// remote.log values cannot hold spaces or newlines).
pub fn encode_definition(def: &SwarmDefinition) -> String {
    format!(
        "{EMBED_FORMAT}:{}",
        URL_SAFE.encode(def.to_toml().as_bytes())
    )
}

const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn decode_definition(value: &str) -> Result<SwarmDefinition, ConfigError> {
    let bad = ConfigError::BadEmbedded;
    let (format, body) = value
        .split_once(':')
        .ok_or(bad(EmbeddedProblem::NoFormat))?;
    if format != EMBED_FORMAT {
        return Err(bad(EmbeddedProblem::Format(format.to_owned())));
    }
    let bytes = DECODER
        .decode(body.trim())
        .map_err(|e| bad(EmbeddedProblem::Base64(e)))?;
    let text = String::from_utf8(bytes).map_err(|_| bad(EmbeddedProblem::NotUtf8))?;
    Ok(SwarmDefinition::parse(&text)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_values(pairs.iter().map(|(n, v)| (*n, v.to_string())))
    }

    fn six() -> String {
        (1..=6)
            .map(|i| format!("/srv/s{i}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn no_file(_: &str) -> std::io::Result<String> {
        Err(std::io::Error::other("not read"))
    }

    #[test]
    fn one_line_makes_a_new_swarm() {
        let p = params(&[
            ("stores", &six()),
            ("k", "4"),
            ("m", "2"),
            ("shardsize", "64KiB"),
        ]);
        let Plan::Create(def) = plan(&p, no_file).unwrap() else {
            panic!("expected a new swarm");
        };
        assert_eq!((def.coding.k, def.coding.m), (4, 2));
        assert_eq!(def.coding.shard_size, Some(ByteSize(64 << 10)));
        assert_eq!(def.stores.len(), 6);
        assert_eq!(def.stores[0].url, "/srv/s1");
        assert!(def.stores[0].id.to_string().starts_with("s1-"));
    }

    #[test]
    fn embedded_definition_round_trips_and_is_one_word() {
        let p = params(&[("stores", &six()), ("k", "4"), ("m", "2")]);
        let def = new_definition(&p).unwrap();
        let v = encode_definition(&def);
        assert!(v.starts_with("1:"));
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:=".contains(&b)),
            "{v}"
        );
        assert_eq!(decode_definition(&v).unwrap(), def);
        // Padding is optional when reading.
        assert_eq!(decode_definition(v.trim_end_matches('=')).unwrap(), def);
    }

    #[test]
    fn enableremote_keeps_the_embedded_swarm() {
        let p = params(&[("stores", &six()), ("k", "4"), ("m", "2")]);
        let def = new_definition(&p).unwrap();
        let stored = encode_definition(&def);
        // What git-annex passes again on enableremote: the original parameters and ours.
        let again = params(&[
            ("stores", &six()),
            ("k", "4"),
            ("m", "2"),
            (DEFINITION_FIELD, &stored),
        ]);
        assert_eq!(plan(&again, no_file).unwrap(), Plan::Keep(def.clone()));
        let only = params(&[(DEFINITION_FIELD, &stored)]);
        assert_eq!(plan(&only, no_file).unwrap(), Plan::Keep(def.clone()));
        let changed = params(&[("stores", "/srv/x,/srv/y"), (DEFINITION_FIELD, &stored)]);
        let e = plan(&changed, no_file).unwrap_err().to_string();
        assert!(
            e.contains("already uses swarm") && e.contains("stores=/srv/s1,"),
            "{e}"
        );
        let k = params(&[("k", "3"), (DEFINITION_FIELD, &stored)]);
        assert!(plan(&k, no_file).unwrap_err().to_string().contains("(k=4)"));
    }

    #[test]
    fn definition_files_are_adopted_and_updated_only_forward() {
        let def = new_definition(&params(&[("stores", &six()), ("k", "4"), ("m", "2")])).unwrap();
        let toml = def.to_toml();
        let p = params(&[("definition", "swarm.toml")]);
        assert_eq!(
            plan(&p, |_| Ok(toml.clone())).unwrap(),
            Plan::Adopt(def.clone())
        );

        let stored = encode_definition(&def);
        let with = params(&[("definition", "swarm.toml"), (DEFINITION_FIELD, &stored)]);
        assert_eq!(
            plan(&with, |_| Ok(toml.clone())).unwrap(),
            Plan::Keep(def.clone())
        );
        let mut newer = def.clone();
        newer.version += 1;
        newer.stores.pop();
        newer.coding.m = 1;
        assert_eq!(
            plan(&with, |_| Ok(newer.to_toml())).unwrap(),
            Plan::Adopt(newer.clone())
        );
        let mut same_version = newer.clone();
        same_version.version = def.version;
        assert!(matches!(
            plan(&with, |_| Ok(same_version.to_toml())),
            Err(ConfigError::SameVersion(1))
        ));
        let other = new_definition(&params(&[("stores", &six()), ("k", "4"), ("m", "2")])).unwrap();
        assert!(matches!(
            plan(&with, |_| Ok(other.to_toml())),
            Err(ConfigError::OtherSwarm { .. })
        ));
        let e = plan(&p, |_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "No such file or directory",
            ))
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "definition=swarm.toml: No such file or directory"
        );
    }

    #[test]
    fn store_refusals_do_not_repeat_passwords() {
        for (stores, want) in [
            (
                "/a,s3://key:hunter2@host/b",
                "store `s3://***@host/b`: credentials do not belong",
            ),
            (
                "/a,s3://bkt?endpoint=http://u:hunter2@127.0.0.1:9000",
                "store `s3://bkt?endpoint=http://***@127.0.0.1:9000`: bad store URL `s3://bkt?endpoint=http://***@127.0.0.1:9000`: a password in the URL is refused",
            ),
        ] {
            let p = params(&[("stores", stores), ("k", "1"), ("m", "1")]);
            let e = plan(&p, no_file).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let e = |pairs: &[(&str, &str)]| plan(&params(pairs), no_file).unwrap_err().to_string();
        assert!(e(&[]).starts_with("no swarm given: use stores="));
        assert_eq!(
            e(&[("stores", &six()), ("k", "4")]),
            "m= is needed with stores= (e.g. k=4 m=2)"
        );
        assert_eq!(
            e(&[("k", "4"), ("m", "2")]),
            "stores= is needed with stores= (e.g. k=4 m=2)"
        );
        assert_eq!(
            e(&[("stores", &six()), ("k", "four"), ("m", "2")]),
            "k=four: not a whole number from 0 to 65535"
        );
        assert_eq!(
            e(&[("stores", &six()), ("k", "0"), ("m", "2")]),
            "k=0: must be at least 1"
        );
        assert_eq!(
            e(&[("stores", "/a,b"), ("k", "1"), ("m", "1")]),
            "store `b`: give an absolute path: a relative one would mean another place in every clone"
        );
        assert_eq!(
            e(&[("stores", "/a,/a"), ("k", "1"), ("m", "1")]),
            "store `/a`: listed twice"
        );
        assert!(
            e(&[("stores", "/a,/b"), ("k", "2"), ("m", "1")]).contains("needs at least 3 stores")
        );
        assert!(
            e(&[
                ("stores", "/a,s3://key:secret@host/b"),
                ("k", "1"),
                ("m", "1")
            ])
            .contains("credentials do not belong")
        );
        assert!(
            e(&[("stores", "/a,peer://host/b"), ("k", "1"), ("m", "1")])
                .contains("peer URLs are peer://NODEID")
        );
        assert!(
            e(&[
                ("stores", &six()),
                ("k", "4"),
                ("m", "2"),
                ("shardsize", "3KiB")
            ])
            .contains("power of two")
        );
        assert_eq!(
            e(&[
                ("stores", &six()),
                ("k", "4"),
                ("m", "2"),
                ("definition", "x")
            ]),
            "give either definition=FILE or stores=/k=/m=, not both"
        );
        for bad in ["", "2:abc", "1:!!!", "1:aGVsbG8"] {
            let p = params(&[(DEFINITION_FIELD, bad)]);
            if bad.is_empty() {
                continue; // empty is unset
            }
            let e = plan(&p, no_file).unwrap_err().to_string();
            assert!(
                e.contains("embedded swarm definition") || e.contains("invalid swarm definition"),
                "{bad}: {e}"
            );
        }
    }
}
