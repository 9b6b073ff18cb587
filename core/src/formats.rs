//! What the interchange formats of every system share: one error type for an input that was
//! rejected ([`FormatError`], generic over the system's own problem error) and the reading of a
//! JSON document tagged with its `schema`. Each system's `formats` module names its own
//! instance (`perseus::formats::FormatError`, `dpk::formats::FormatError`,
//! `orloj::formats::FormatError`), so one `match` shape maps any of them to a status.

use alloc::string::{String, ToString};
use core::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an input document was rejected: its syntax, its schema, one of its fields, a line of a
/// CSV file, or (`Problem`) the system's own check of what the document describes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError<E> {
    /// Malformed JSON, or a field that is missing or has the wrong type (serde's message names
    /// it, with line and column).
    #[error("invalid {schema} document: {message}")]
    Json {
        /// The schema being read.
        schema: &'static str,
        /// What serde said.
        message: String,
    },
    /// The `schema` field names another format.
    #[error("expected schema \"{expected}\", found \"{found}\"")]
    Schema {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A field has a value outside its domain, or a required combination of fields is missing.
    #[error("{}{message}", FieldPlace { record: record.as_deref(), field })]
    Field {
        /// The record the field belongs to, where a document lists many that are named by
        /// their ids (`task 3`, `block 6`); `None` for a field named by its path alone.
        record: Option<String>,
        /// The field's path in the document (`pipeline.schedule`, `apps[2].name`), or empty
        /// when the record as a whole is at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A line of a CSV file could not be used.
    #[error("CSV line {line}: {message}")]
    Csv {
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the column.
        message: String,
    },
    /// The document is well formed, but what it describes is invalid.
    #[error(transparent)]
    Problem(#[from] E),
}

/// The start of a [`FormatError::Field`] message: `task 3: field `mechanism`: `,
/// `field `pipeline.schedule`: ` or `block 6: `.
struct FieldPlace<'a> {
    record: Option<&'a str>,
    field: &'a str,
}

impl fmt::Display for FieldPlace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(record) = self.record {
            write!(f, "{record}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        Ok(())
    }
}

impl<E> FormatError<E> {
    /// A [`Field`](Self::Field) error about the field at `field` (a path from the document's
    /// root).
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        FormatError::Field {
            record: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`Field`](Self::Field) error about `field` of `record` (`""` for the record as a
    /// whole).
    pub(crate) fn in_record(
        record: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FormatError::Field {
            record: Some(record.into()),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`Json`](Self::Json) error while reading `schema`.
    pub(crate) fn json(schema: &'static str, e: &serde_json::Error) -> Self {
        FormatError::Json {
            schema,
            message: e.to_string(),
        }
    }
}

/// Reads a JSON document of schema `schema`: first only its `schema` field, so that a document
/// of another format is named as such rather than by the first field it lacks, then the whole.
pub(crate) fn parse_document<T: DeserializeOwned, E>(
    text: &str,
    schema: &'static str,
) -> Result<T, FormatError<E>> {
    #[derive(serde::Deserialize)]
    struct SchemaOnly {
        schema: String,
    }
    let s: SchemaOnly = serde_json::from_str(text).map_err(|e| FormatError::json(schema, &e))?;
    if s.schema != schema {
        return Err(FormatError::Schema {
            expected: schema,
            found: s.schema,
        });
    }
    serde_json::from_str(text).map_err(|e| FormatError::json(schema, &e))
}

/// Renders an output document as compact JSON. The documents are plain structs of numbers,
/// strings, sequences and string-keyed maps, which serde_json always serializes; the empty
/// string stands for the impossible failure rather than a panic.
pub(crate) fn to_json(doc: &impl Serialize) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::FormatError;

    /// Every message shape, as the systems' messages have always read.
    #[test]
    fn messages_name_the_place() {
        type E = FormatError<crate::dpk::KnapsackError>;
        let cases = [
            (
                E::field("pipeline.schedule", "bad"),
                "field `pipeline.schedule`: bad",
            ),
            (
                E::in_record("task 3", "mechanism", "bad"),
                "task 3: field `mechanism`: bad",
            ),
            (E::in_record("block 6", "", "bad"), "block 6: bad"),
            (
                E::Csv {
                    line: 7,
                    message: "bad".into(),
                },
                "CSV line 7: bad",
            ),
            (
                E::Schema {
                    expected: "a/v1",
                    found: "a/v2".into(),
                },
                "expected schema \"a/v1\", found \"a/v2\"",
            ),
            (
                E::Problem(crate::dpk::KnapsackError::NoBlocks),
                &crate::dpk::KnapsackError::NoBlocks.to_string(),
            ),
        ];
        for (e, message) in cases {
            assert_eq!(e.to_string(), message);
        }
        let e = super::parse_document::<serde_json::Value, crate::dpk::KnapsackError>("{", "a/v1")
            .unwrap_err();
        assert!(
            e.to_string().starts_with("invalid a/v1 document: ")
                && e.to_string().contains("line 1"),
            "{e}"
        );
    }
}
