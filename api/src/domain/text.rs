//! Free text from clients (names, titles, notes …), checked at the edge: no control
//! characters (NUL included: PostgreSQL refuses it), not blank, at most N characters
//! (counted before trimming, as JSON Schema's `maxLength` counts), stored trimmed. Each
//! type's schema states exactly these rules, so the document and the server agree.

use super::schema::CONTROL;

/// Reason given for a control character (NUL included) in text.
pub const CONTROL_CHARS: &str = "must not contain control characters";

/// Unicode White_Space (what `str::trim` removes), in JSON Schema regex syntax.
const WHITE: &str =
    r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The pattern of a one-line text: no control character, at least one visible one.
pub fn line_pattern() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{WHITE}][^{CONTROL}]*$")
}

/// The pattern of a multi-line text: like a line, but tabs and line breaks are allowed.
pub fn lines_pattern() -> String {
    let ctl = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";
    format!("^[^{ctl}]*[^{CONTROL}{WHITE}][^{ctl}]*$")
}

/// Checks one text value; `Err` is the reason (never the value).
pub fn check(s: &str, max: usize, multiline: bool) -> Result<String, String> {
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\t' | '\n' | '\r'));
    if !s.chars().all(allowed) {
        return Err(if multiline {
            "must not contain control characters other than tabs and line breaks".into()
        } else {
            CONTROL_CHARS.into()
        });
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    let t = s.trim();
    if t.is_empty() {
        return Err("must not be blank".into());
    }
    Ok(t.to_string())
}

macro_rules! text_type {
    ($(#[$m:meta])* $name:ident, $schema_name:literal, max = $max:expr, multiline = $multi:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX: usize = $max;

            pub fn parse(s: &str) -> Result<$name, String> {
                check(s, $max, $multi).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        super::schema::schema_of!(
            $name,
            $schema_name,
            super::schema::string(&format!(
                "Text: no control characters{}, not blank, at most {} characters; stored trimmed.",
                if $multi { " (tabs and line breaks are fine)" } else { "" },
                $max
            ))
            .pattern(Some(if $multi { lines_pattern() } else { line_pattern() }))
            .max_length(Some($max))
            .into()
        );
    };
}

text_type!(
    /// A short text: a name, county, title, assignee.
    Text200, "Text200", max = 200, multiline = false
);
text_type!(
    /// A county.
    Text100, "Text100", max = 100, multiline = false
);
text_type!(
    /// A label (a unit's "A-101").
    Text50, "Text50", max = 50, multiline = false
);
text_type!(
    /// An address or a note.
    Text500, "Text500", max = 500, multiline = false
);
text_type!(
    /// A reference (bank reference, receipt book number).
    Text100Ref, "Reference", max = 100, multiline = false
);
text_type!(
    /// A description: several lines.
    Paragraph, "Paragraph", max = 4000, multiline = true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_blank_and_long_text() {
        assert_eq!(Text50::parse("  A-101 ").unwrap().as_str(), "A-101");
        assert!(Text50::parse("a\u{0}b").is_err());
        assert!(Text50::parse("a\u{7}b").is_err());
        assert!(Text50::parse("a\u{85}b").is_err());
        assert!(Text50::parse("a\nb").is_err());
        assert!(Paragraph::parse("a\nb\tc").is_ok());
        assert!(Paragraph::parse("a\u{0}").is_err());
        assert!(Text50::parse(" \u{3000} ").is_err());
        assert!(Text50::parse(&"x".repeat(51)).is_err());
        assert!(Text50::parse(&"é".repeat(50)).is_ok());
    }
}
