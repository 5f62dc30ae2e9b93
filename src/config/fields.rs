//! The field names of a raw config struct, read from its own `Deserialize` impl.
//!
//! `deny_unknown_fields` stops at the first unknown key and names it only inside a sentence.
//! Knowing each section's field list lets loading report every unknown key with its full
//! path (`web.colour: unknown key`) before deserializing, and the list can never drift from
//! the struct because it comes from the derive itself.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The field names a derived `Deserialize` struct accepts; empty for anything else.
pub(crate) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // A derived struct impl passes its field list to `deserialize_struct` before reading any
    // data; the recorder keeps the list and stops there, so the error is the expected outcome.
    let _stopped = T::deserialize(FieldRecorder { names: &mut names });
    names
}

struct FieldRecorder<'a> {
    names: &'a mut &'static [&'static str],
}

impl<'de> Deserializer<'de> for FieldRecorder<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs have field names"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.names = fields;
        Err(de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::field_names;
    use crate::config::SimConfig;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only its field list is read
    struct Sample {
        listen: String,
        public_status: Option<bool>,
    }

    #[test]
    fn a_derived_struct_reports_its_field_names_in_order() {
        assert_eq!(field_names::<Sample>(), ["listen", "public_status"]);
    }

    #[test]
    fn a_non_struct_type_has_no_field_names() {
        assert!(field_names::<u32>().is_empty());
    }

    /// `[printers.simulator]` is read into the simulator's own struct, so its unknown-key
    /// check relies on this list being exactly the keys that struct accepts.
    #[test]
    fn the_simulators_struct_from_another_module_reports_the_keys_it_accepts() {
        let names = field_names::<SimConfig>();
        for key in [
            "speed_up",
            "corrupt_every",
            "bytes_per_second",
            "advanced_ok",
        ] {
            assert!(names.contains(&key), "{key} missing from {names:?}");
        }
        let unknown = |key: &str| {
            serde_json::from_str::<SimConfig>(&format!("{{\"{key}\": null}}"))
                .is_err_and(|error| error.to_string().contains("unknown field"))
        };
        for key in names {
            assert!(!unknown(key), "{key} is listed but not accepted");
        }
        assert!(unknown("colour"));
    }
}
