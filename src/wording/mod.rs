//! Wording: the facts of an update and the table of who carries them ([`facts`]), the rules that
//! refuse a dishonest or sloppy text ([`rules`]), the templates ([`render`]), fitting a text to a
//! channel's limit ([`fit`], [`count`]) and cleaning what people type ([`clean`]).

pub(crate) mod clean;
pub(crate) mod count;
pub(crate) mod facts;
pub(crate) mod fit;
pub(crate) mod render;
pub(crate) mod rules;
