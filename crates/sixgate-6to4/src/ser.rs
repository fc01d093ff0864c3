//! Serde helpers: display-form strings for prefixes, and classifications as objects.

use std::fmt::Display;

use serde::ser::SerializeStruct;
use serde::Serializer;
use sixgate_core::class::Classification;

pub(crate) fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub(crate) fn class<S: Serializer>(c: &Classification, s: S) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("Classification", 4)?;
    st.serialize_field("name", c.class.name())?;
    st.serialize_field("block", c.block)?;
    st.serialize_field("rfc", c.rfc)?;
    st.serialize_field("global", &c.global)?;
    st.end()
}
