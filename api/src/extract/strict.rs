//! A serde `Deserializer` over a parsed JSON value that is stricter than serde_json's own:
//! a struct or map must be a JSON object (serde accepts an array as a struct's fields in
//! order — `["Arr Court", "Nairobi", …]` would pass as a property), and no string or key
//! may contain NUL (PostgreSQL refuses it in text; it is never legitimate input).

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

pub type Error = serde_json::Error;

/// Reason given for a NUL (or, by the text types, any control character).
pub use crate::domain::text::CONTROL_CHARS;

pub struct Strict<'a>(pub &'a Value);

fn checked(s: &str) -> Result<&str, Error> {
    if s.contains('\0') {
        Err(de::Error::custom(CONTROL_CHARS))
    } else {
        Ok(s)
    }
}

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    v.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    v.visit_i64(i)
                } else {
                    v.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => v.visit_borrowed_str(checked(s)?),
            Value::Array(a) => v.visit_seq(Seq(a.iter())),
            Value::Object(o) => v.visit_map(Obj::new(o)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(o) => v.visit_map(Obj::new(o)),
            other => Err(de::Error::invalid_type(unexpected(other), &v)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // Our enums are unit variants spelled as strings.
            Value::String(s) => v.visit_enum(checked(s)?.into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(other), &v)),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct identifier ignored_any
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'static> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(_) => de::Unexpected::Other("boolean"),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(_) => de::Unexpected::Other("string"),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Obj<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Obj<'a> {
    fn new(o: &'a Map<String, Value>) -> Obj<'a> {
        Obj {
            iter: o.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Obj<'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some(v);
                let k: &'de str = checked(k)?;
                seed.deserialize(de::value::BorrowedStrDeserializer::new(k))
                    .map(Some)
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("value without a key"))?;
        seed.deserialize(Strict(v))
    }
}
