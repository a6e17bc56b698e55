//! Wording: the facts of an update and the table of who carries them ([`facts`]), the rules that
//! refuse a dishonest or sloppy text ([`rules`]), the templates ([`render`]), fitting a text to a
//! channel's limit ([`fit`], [`count`]) and cleaning what people type ([`clean`]).

pub(crate) mod clean;
pub(crate) mod count;
pub(crate) mod facts;
pub(crate) mod fit;
pub(crate) mod render;
pub(crate) mod rules;

/// `1 delivery`, `3 deliveries`: a count and its noun in the number it takes.
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
