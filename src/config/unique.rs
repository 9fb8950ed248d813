//! Maps whose keys must be unique: YAML lets a later `name:` silently replace an earlier one, so
//! two connections (or two children) given the same name would leave only the last, and a reload
//! of such a file could close a tunnel nobody meant to touch.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;

struct UniqueMap<T> {
    what: &'static str,
    _t: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for UniqueMap<T> {
    type Value = BTreeMap<String, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map of {} names", self.what)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if out.contains_key(&name) {
                return Err(A::Error::custom(format!(
                    "duplicate {} name '{name}': each must be given once",
                    self.what
                )));
            }
            let value = map.next_value::<T>()?;
            out.insert(name, value);
        }
        Ok(out)
    }
}

fn unique<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    what: &'static str,
) -> Result<Option<BTreeMap<String, T>>, D::Error> {
    d.deserialize_map(UniqueMap {
        what,
        _t: PhantomData,
    })
    .map(Some)
}

pub fn de_connections<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, T>>, D::Error> {
    unique(d, "connection")
}

pub fn de_children<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, T>>, D::Error> {
    unique(d, "child")
}
