//! Text, bytes and lists with a cap, checked once when built and again when decoded, so no
//! message can carry more than the spec allows and decoding never preallocates past the cap.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// A value longer than its cap, or not of its shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundError {
    #[error("{what} of {len} bytes or items; at most {max} allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("`{0}` is not a plain name (1 to 255 bytes, not . or .., without / \\ or NUL)")]
    NotPlain(String),
}

/// UTF-8 text of at most `MAX` bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    /// Refuses text longer than `MAX` bytes.
    pub fn new(text: impl Into<String>) -> Result<Self, BoundError> {
        let text = text.into();
        if text.len() > MAX {
            return Err(BoundError::TooLong {
                what: "text",
                len: text.len(),
                max: MAX,
            });
        }
        Ok(Text(text))
    }

    /// The text, cut at a character boundary to at most `MAX` bytes (for messages to people).
    pub fn cut(text: &str) -> Self {
        let mut end = text.len().min(MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Text(text[..end].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Debug for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> Serialize for Text<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // postcard hands out a slice of the frame: the String is at most the frame's size.
        let text = String::deserialize(d)?;
        Text::new(text).map_err(de::Error::custom)
    }
}

/// One path component that is safe to use as a file name: 1 to 255 bytes, not `.` or `..`,
/// without `/`, `\` or NUL. Staging and lock names travel as these.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlainName(Text<255>);

impl PlainName {
    pub fn new(name: &str) -> Result<Self, BoundError> {
        let plain =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
        if !plain || name.len() > 255 {
            return Err(BoundError::NotPlain(Text::<64>::cut(name).0));
        }
        Ok(PlainName(Text::new(name)?))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for PlainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for PlainName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PlainName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Text::<255>::deserialize(d)?;
        PlainName::new(text.as_str()).map_err(de::Error::custom)
    }
}

/// Bytes, at most `MAX` of them.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Blob<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> Blob<MAX> {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, BoundError> {
        let bytes = bytes.into();
        if bytes.len() > MAX {
            return Err(BoundError::TooLong {
                what: "byte string",
                len: bytes.len(),
                max: MAX,
            });
        }
        Ok(Blob(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl<const MAX: usize> fmt::Debug for Blob<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl<const MAX: usize> Serialize for Blob<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Blob<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BlobVisitor<const MAX: usize>;
        impl<const MAX: usize> Visitor<'_> for BlobVisitor<MAX> {
            type Value = Blob<MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {MAX} bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                if v.len() > MAX {
                    return Err(E::invalid_length(v.len(), &self));
                }
                Ok(Blob(v.to_vec()))
            }
        }
        d.deserialize_bytes(BlobVisitor::<MAX>)
    }
}

/// A list of at most `MAX` items; decoding refuses more and preallocates at most `MAX`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    pub fn new(items: Vec<T>) -> Result<Self, BoundError> {
        if items.len() > MAX {
            return Err(BoundError::TooLong {
                what: "list",
                len: items.len(),
                max: MAX,
            });
        }
        Ok(BoundedVec(items))
    }

    /// Adds an item; gives it back when the list is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= MAX {
            return Err(item);
        }
        self.0.push(item);
        Ok(())
    }

    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        BoundedVec(Vec::new())
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedVec<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in &self.0 {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for ListVisitor<T, MAX> {
            type Value = BoundedVec<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {MAX} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let hint = seq.size_hint().unwrap_or(0);
                if hint > MAX {
                    return Err(de::Error::invalid_length(hint, &self));
                }
                let mut items = Vec::with_capacity(hint);
                while let Some(item) = seq.next_element()? {
                    if items.len() == MAX {
                        return Err(de::Error::invalid_length(MAX + 1, &self));
                    }
                    items.push(item);
                }
                Ok(BoundedVec(items))
            }
        }
        d.deserialize_seq(ListVisitor::<T, MAX>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(Text::<4>::cut("héllo").as_str(), "hél");
        assert_eq!(Text::<3>::cut("héllo").as_str(), "hé");
        assert_eq!(Text::<2>::cut("héllo").as_str(), "h");
        assert_eq!(Text::<9>::cut("ok").as_str(), "ok");
    }

    #[test]
    fn caps_are_checked_when_built() {
        assert!(Text::<2>::new("abc").is_err());
        assert!(Blob::<2>::new(vec![0; 3]).is_err());
        assert!(BoundedVec::<u8, 2>::new(vec![1, 2, 3]).is_err());
        let mut v = BoundedVec::<u8, 1>::default();
        assert_eq!(v.push(1), Ok(()));
        assert_eq!(v.push(2), Err(2));
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(256)] {
            assert!(PlainName::new(bad).is_err(), "{bad:?}");
        }
        assert!(PlainName::new("shared-0123").is_ok());
    }

    #[test]
    fn caps_are_checked_when_decoded() {
        let long = postcard::to_allocvec("abc").unwrap();
        assert!(postcard::from_bytes::<Text<2>>(&long).is_err());
        assert!(postcard::from_bytes::<Text<3>>(&long).is_ok());
        assert!(postcard::from_bytes::<Blob<2>>(&long).is_err());
        let list = postcard::to_allocvec(&vec![1u32, 2, 3]).unwrap();
        assert!(postcard::from_bytes::<BoundedVec<u32, 2>>(&list).is_err());
        assert!(postcard::from_bytes::<BoundedVec<u32, 3>>(&list).is_ok());
        let dotdot = postcard::to_allocvec("..").unwrap();
        assert!(postcard::from_bytes::<PlainName>(&dotdot).is_err());
        // A count far beyond the bytes that follow is refused before anything is allocated.
        assert!(
            postcard::from_bytes::<BoundedVec<u32, 2>>(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err()
        );
    }
}
