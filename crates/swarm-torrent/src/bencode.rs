//! The canonical bencoding (BEP 3) of the values a .torrent file is made of: dictionaries with
//! keys in raw byte order, integers without leading zeros, byte strings with their length.
//! Pure and encode-only: reading .torrent files is librqbit's job.
//!
//! Canonical matters: an info hash is the SHA-1 of these exact bytes, so the same values must
//! always give the same bytes (`BTreeMap` keeps the keys sorted as BEP 3 requires).

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(b.into())
    }

    /// A dictionary from (key, value) pairs; a later pair replaces an earlier one.
    pub fn dict<K: Into<Vec<u8>>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Dict(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => string(out, b),
            Value::List(items) => {
                out.push(b'l');
                for v in items {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    string(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    pub fn encoded_len(&self) -> usize {
        let digits = |n: usize| n.to_string().len();
        match self {
            Value::Int(i) => 2 + i.to_string().len(),
            Value::Bytes(b) => digits(b.len()) + 1 + b.len(),
            Value::List(items) => 2 + items.iter().map(Value::encoded_len).sum::<usize>(),
            Value::Dict(map) => {
                2 + map
                    .iter()
                    .map(|(k, v)| digits(k.len()) + 1 + k.len() + v.encoded_len())
                    .sum::<usize>()
            }
        }
    }
}

fn string(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn golden_encodings_from_bep_3() {
        // BEP 3's own examples.
        assert_eq!(Value::bytes("spam").encode(), b"4:spam");
        assert_eq!(Value::Int(3).encode(), b"i3e");
        assert_eq!(Value::Int(-3).encode(), b"i-3e");
        assert_eq!(Value::Int(0).encode(), b"i0e");
        assert_eq!(
            Value::List(vec![Value::bytes("spam"), Value::bytes("eggs")]).encode(),
            b"l4:spam4:eggse"
        );
        assert_eq!(
            Value::dict([("cow", Value::bytes("moo")), ("spam", Value::bytes("eggs"))]).encode(),
            b"d3:cow3:moo4:spam4:eggse"
        );
        assert_eq!(Value::bytes("").encode(), b"0:");
    }

    #[test]
    fn keys_are_sorted_as_raw_bytes_whatever_the_insertion_order() {
        // "piece length" sorts before "pieces" (space 0x20 < 's'); upper case before lower.
        let v = Value::dict([
            ("pieces", Value::Int(1)),
            ("piece length", Value::Int(2)),
            ("Z", Value::Int(3)),
            ("a", Value::Int(4)),
        ]);
        assert_eq!(v.encode(), b"d1:Zi3e1:ai4e12:piece lengthi2e6:piecesi1ee");
    }

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let v = Value::dict([
            (
                "list",
                Value::List(vec![Value::Int(-1234), Value::bytes(vec![0u8; 300])]),
            ),
            ("n", Value::Int(i64::MAX)),
            ("d", Value::dict([("x", Value::List(vec![]))])),
        ]);
        assert_eq!(v.encoded_len(), v.encode().len());
    }
}
